"""The dead_letters table on SQLite and PostgreSQL: its key survives a recreated topic, rows
from older databases are kept, and whatever a record held is stored."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from sqlalchemy import (Column, DateTime, Integer, MetaData, String, Table, Text, UniqueConstraint, create_engine,
                        select)

from autovalue.schema import Listing
from autovalue.tables import connect, dead_letters, valuations
from consumers.messages import Accepted, Limits, dead_letter
from consumers.sink import ValuationStore

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
    assert ValuationStore(database_url, LIMITS).write(accepted, valued, dead) == [1]
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
