"""The dead_letters table on SQLite and PostgreSQL: its key survives a recreated topic, rows
from older databases are kept, and whatever a record held is stored."""

from __future__ import annotations

import sqlite3
import time
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy import (Column, DateTime, Integer, MetaData, String, Table, Text, UniqueConstraint, create_engine,
                        select)

from autovalue.schema import Listing
from autovalue.tables import connect, dead_letters, valuations
from consumers.messages import Accepted, Limits, dead_letter
from consumers.sink import ValuationStore
from consumers.writer import BatchWriter
from tests.streaming import isolated, read_topic

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
LIMITS = Limits(listing_bytes=4000, payload_bytes=1000)
T0 = datetime(2026, 5, 1, 10, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'letters.db'}"
        return
    name = f"autovalue_letters_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(ADMIN, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is required: {error}")
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(ADMIN, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def letter(raw: bytes, offset: int = 7, produced_at: datetime = T0, listing_id: str | None = "a1"):
    return dead_letter("listings", 0, offset, "not JSON: whatever", raw, LIMITS, listing_id, produced_at)


def stored(url: str) -> list[dict]:
    engine = connect(url)
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(select(dead_letters).order_by(dead_letters.c.id))]
    engine.dispose()
    return rows


def test_a_recreated_topics_letter_at_an_old_position_is_stored_and_a_replay_is_not(database_url):
    store = ValuationStore(database_url, LIMITS)
    store.write([], [], [letter(b"first")])
    store.write([], [], [letter(b"first")])  # the same record replayed
    store.write([], [], [letter(b"second", produced_at=T0 + timedelta(hours=1))])  # same position, new topic
    store.write([], [], [letter(b"first", produced_at=T0 + timedelta(hours=2))])  # even the same bytes again
    rows = stored(database_url)
    assert [r["payload"] for r in rows] == ["first", "second", "first"]
    assert {(r["partition"], r["offset"]) for r in rows} == {(0, 7)}
    assert rows[0]["payload_bytes"] == 5 and len(rows[0]["payload_sha256"]) == 64


def test_whatever_a_record_held_is_stored(database_url):
    raw = b'{"listing_id": "' + b"\x00\xff" * 3000 + b'"}'
    store = ValuationStore(database_url, LIMITS)
    store.write([], [], [letter(raw, listing_id="x" * 5000 + "\x00")])
    [row] = stored(database_url)
    assert row["payload_bytes"] == len(raw) and row["payload"].endswith(f"[cut: 1000 of {len(raw)} bytes kept]")
    assert len(row["listing_id"]) == 128


def test_a_valuation_the_database_refuses_becomes_a_dead_letter(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite stores any length in a VARCHAR(64)")
    good = Listing(listing_id="ok", brand="Toyota", model="Avanza", year=2020, mileage_km=1.0, listed_at=T0)
    # Past the schema's own checks (as a bug would be): PostgreSQL refuses a 100-character brand.
    bad = Listing.model_construct(**{**good.model_dump(), "listing_id": "too-long", "brand": "B" * 100})
    accepted = [Accepted(listing, T0, 0, i, raw=listing.model_dump_json().encode(), topic="listings")
                for i, listing in enumerate([good, bad])]
    valued = [{"predicted_price": 1e8, "price_low": 9e7, "price_high": 1.1e8, "model_version": "v1"}] * 2
    dead: list = []
    refused_rows, letters = ValuationStore(database_url, LIMITS).write(accepted, valued, dead)
    assert refused_rows == [1] and dead == []
    dead = letters
    engine = connect(database_url)
    with engine.connect() as connection:
        assert [r.listing_id for r in connection.execute(select(valuations.c.listing_id))] == ["ok"]
    engine.dispose()
    assert [(d.listing_id, d.offset) for d in dead] == [("too-long", 1)]
    assert dead[0].reason.startswith("could not be stored: ")
    assert [r["listing_id"] for r in stored(database_url)] == ["too-long"]


def test_a_database_from_before_the_new_key_is_migrated_with_its_rows(database_url):
    old = MetaData()
    Table("dead_letters", old, Column("id", Integer, primary_key=True, autoincrement=True),
          Column("topic", String(255), nullable=False), Column("partition", Integer, nullable=False),
          Column("offset", Integer, nullable=False), Column("listing_id", String(128)),
          Column("reason", Text, nullable=False), Column("payload", Text),
          Column("created_at", DateTime(timezone=True), nullable=False),
          UniqueConstraint("topic", "partition", "offset", name="uq_dead_letter_position"))
    engine = create_engine(database_url)
    old.create_all(engine)
    with engine.begin() as connection:
        connection.execute(old.tables["dead_letters"].insert(), [
            {"topic": "listings", "partition": 0, "offset": 7, "reason": "old", "payload": "old", "created_at": T0}])
    engine.dispose()

    ValuationStore(database_url, LIMITS).write([], [], [letter(b"new")])  # same position: stored now
    connect(database_url).dispose()  # a second start finds nothing left to migrate
    rows = stored(database_url)
    assert [(r["offset"], r["payload"]) for r in rows] == [(7, "old"), (7, "new")]


def lock_the_database(store: ValuationStore, path: str, when, seconds: float) -> dict:
    """Just before the first statement `when` picks, another connection takes the database's
    exclusive lock for `seconds`; meanwhile the store stops waiting at once: 'database is
    locked', as after a real busy timeout."""
    holder = sqlite3.connect(path, isolation_level=None)
    state = {"since": None, "done": False}

    def before(_conn, cursor, statement, parameters, _context, _many):
        if state["since"] is not None and time.monotonic() - state["since"] > seconds:
            holder.execute("ROLLBACK")
            cursor.execute("PRAGMA busy_timeout=30000")
            state["since"] = None
        elif not state["done"] and when(statement, str(parameters)):
            holder.execute("BEGIN EXCLUSIVE")
            cursor.execute("PRAGMA busy_timeout=0")
            state.update(since=time.monotonic(), done=True)

    event.listen(store.engine, "before_cursor_execute", before)
    return state


def batch(settings, prices: list) -> tuple[list, list]:
    names = [f"l{i}" for i in range(len(prices))]
    listings = [Listing(listing_id=name, brand="Toyota", model="Avanza", year=2020, mileage_km=1.0, listed_at=T0)
                for name in names]
    accepted = [Accepted(listing, T0, 0, i, raw=listing.model_dump_json().encode(), topic=settings.topic_listings)
                for i, listing in enumerate(listings)]
    valued = [{"listing_id": name, "predicted_price": price, "price_low": 9e7, "price_high": 1.1e8,
               "model_version": "v1"} for name, price in zip(names, prices)]
    return accepted, valued


def write_through_a_lock(settings, prices: list, when) -> tuple:
    from consumers.kafka_clients import json_producer

    store = ValuationStore(settings.database, LIMITS)
    locked = lock_the_database(store, settings.database.removeprefix("sqlite:///"), when, seconds=0.3)
    producer = json_producer(settings)
    dead: list = []
    written = BatchWriter(settings, store, producer, lambda: True).write(*batch(settings, prices), dead)
    producer.close()
    assert locked["done"], "the database was never locked"
    assert dead == []  # the caller's batch is left as it was
    return written


def test_a_locked_database_is_waited_for_never_a_dead_letter(settings):
    """'database is locked' is the database being busy, not a row it refuses: the batch is
    written again later (it was written row by row, each row a dead letter 'could not be stored')."""
    settings = isolated(settings)
    written = write_through_a_lock(settings, [1e8, 2e8], lambda sql, _: sql.startswith("INSERT INTO valuations"))
    assert written == (2, 0)
    assert stored(settings.database) == []


def test_a_refused_rows_dead_letter_is_sent_once_when_the_database_fails_midway(settings):
    """The batch is written again after 'database is locked' met the refused row's dead letter:
    the letter is stored with its payload and reason, and sent once."""
    settings = isolated(settings)
    written = write_through_a_lock(settings, [1e8, None],  # SQLite refuses a NULL price (NOT NULL)
                                   lambda sql, params: sql.startswith("INSERT INTO dead_letters")
                                   and "could not be stored" in params)
    assert written == (1, 1)
    letters = read_topic(settings, settings.topic_dead_letters, expect=1)
    assert [(m["listing_id"], m["offset"]) for m in letters] == [("l1", 1)]
    [row] = stored(settings.database)
    assert row["listing_id"] == "l1" and row["payload"] and "NOT NULL" in row["reason"]
    assert "not storable" not in row["reason"]
