"""The outcome consumer against the session's real broker and real databases: outcomes joined to
the valuation the user saw, an outcome before its valuation filled in later, bad messages
dead-lettered with the reason, replays without duplicates, clean stops and a one-line exit."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from sqlalchemy import select

from consumers.kafka_clients import json_producer
from autovalue.outcome import Outcome
from deploy.processes import settings_environment
from autovalue.settings import Settings
from autovalue.tables import connect, dead_letters, outcomes, valuations
from consumers.outcome_store import OutcomeStore
from consumers.outcomes import OutcomeConsumer
from tests.conftest import free_port
from tests.service_support import REPO
from tests.streaming import isolated, read_topic

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=timezone.utc)
FAST = {"kafka_session_timeout_ms": 2000, "kafka_heartbeat_interval_ms": 500, "outcomes_poll_ms": 100,
        "outcomes_join_interval_s": 0.3}


def valuation(listing_id: str, predicted: float, low: float, high: float, asking: float | None = None,
              rating: str | None = None, version: str = "v1", stored: datetime = T0, model: str = "Avanza") -> dict:
    return {"listing_id": listing_id, "listed_at": T0, "brand": "Toyota", "model": model, "year": 2020,
            "mileage": 50_000.0, "fuel": "petrol", "transmission": "manual", "body_type": "mpv", "region": "Bali",
            "seller_type": "dealer", "asking_price": asking, "predicted_price": predicted, "price_low": low,
            "price_high": high, "deal_rating": rating, "fallback": "model", "model_version": version,
            "feature_service": "valuation_v1", "produced_at": stored, "scored_at": stored, "created_at": stored}


def store_valuations(url: str, rows: list[dict]) -> None:
    engine = connect(url)
    with engine.begin() as connection:
        connection.execute(valuations.insert(), rows)
    engine.dispose()


def outcome(listing_id: str, sold_price: float | None, days: float = 12.5) -> dict:
    return {"listing_id": listing_id, "outcome": "sold" if sold_price else "withdrawn", "sold_price": sold_price,
            "days_on_market": days, "outcome_at": datetime.now(timezone.utc).isoformat()}


def send(settings: Settings, messages: list, partition: int | None = None) -> None:
    """Keyed by listing_id as the simulator does (or all to one partition)."""
    producer = json_producer(settings)
    for message in messages:
        key = message.get("listing_id") if isinstance(message, dict) else None
        producer.send(settings.topic_outcomes, key=key if isinstance(key, str) else None, value=message,
                      partition=partition)
    producer.flush()
    producer.close()


def stored(settings: Settings) -> dict[str, dict]:
    engine = connect(settings.database)
    with engine.connect() as connection:
        rows = {r.listing_id: dict(r._mapping) for r in connection.execute(select(outcomes))}
    engine.dispose()
    return rows


def letters(settings: Settings) -> list[dict]:
    engine = connect(settings.database)
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(select(dead_letters))]
    engine.dispose()
    return rows


def wait_until(condition, timeout_s: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def running(settings):
    """An isolated outcome consumer running in a thread of this process."""
    settings = isolated(settings, **FAST)
    consumer = OutcomeConsumer(settings)
    thread = threading.Thread(target=consumer.run, name="outcomes-under-test")
    thread.start()
    yield settings, consumer
    consumer.stopping = True
    thread.join(timeout=30)
    assert not thread.is_alive()


MALFORMED = [
    (b'{"listing_id": "bad-1", "outcome": ', "not JSON"),
    (b'["bad-2"]', "not a JSON object"),
    ({"listing_id": "bad-3", "outcome": "sold", "sold_price": None, "days_on_market": 3,
      "outcome_at": "2026-05-01T10:00:00Z"}, "sold_price: a sold listing needs its sold price"),
    ({"listing_id": "bad-4", "outcome": "withdrawn", "sold_price": 9e7, "days_on_market": 3,
      "outcome_at": "2026-05-01T10:00:00Z"}, "sold_price: a withdrawn listing has no sold price"),
    ({"listing_id": "bad-5", "outcome": "stolen", "days_on_market": 3, "outcome_at": "2026-05-01T10:00:00Z"},
     "outcome: Input should be 'sold' or 'withdrawn'"),
    ({"listing_id": "bad-6", "outcome": "sold", "sold_price": 9e7, "days_on_market": -2,
      "outcome_at": "2026-05-01T10:00:00Z"}, "days_on_market: Input should be greater than or equal to 0"),
    ({"outcome": "withdrawn", "days_on_market": 3, "outcome_at": "2026-05-01T10:00:00Z"}, "listing_id: Field required"),
]


def test_outcomes_are_joined_to_the_valuation_the_user_saw(running):
    settings, consumer = running
    store_valuations(settings.database, [
        valuation("a", 100e6, 90e6, 120e6, asking=95e6, rating="good", model="Avanza"),
        valuation("b", 200e6, 180e6, 220e6, asking=250e6, rating="overpriced", model="Xpander"),
        valuation("c", 150e6, 140e6, 160e6),
        # Rescored later by a new champion: the user saw v1's estimate when the listing arrived.
        valuation("a", 130e6, 120e6, 140e6, asking=95e6, rating="great", version="v2", stored=T0 + timedelta(hours=1)),
    ])
    send(settings, [outcome("a", 110e6), outcome("b", 160e6, days=40.0), outcome("c", None, days=45.25),
                    outcome("late", 55e6)])
    rows = wait_until(lambda: r if len(r := stored(settings)) == 4 else None, what="4 outcome rows")
    a, b, c, late = rows["a"], rows["b"], rows["c"], rows["late"]
    assert (a["model_version"], a["predicted_price"], a["price_low"], a["price_high"]) == ("v1", 100e6, 90e6, 120e6)
    assert (a["brand"], a["model"], a["asking_price"], a["deal_rating"]) == ("Toyota", "Avanza", 95e6, "good")
    assert a["realized_error"] == pytest.approx(0.10) and a["abs_pct_error"] == pytest.approx(0.10)
    assert a["inside_interval"] is True and a["outcome"] == "sold" and a["days_on_market"] == 12.5
    assert b["realized_error"] == pytest.approx(-0.20) and b["abs_pct_error"] == pytest.approx(0.20)
    assert b["inside_interval"] is False and b["deal_rating"] == "overpriced" and b["model"] == "Xpander"
    assert c["outcome"] == "withdrawn" and c["sold_price"] is None and c["predicted_price"] == 150e6
    assert c["realized_error"] is None and c["inside_interval"] is None and c["days_on_market"] == 45.25
    # The outcome came before its valuation: stored anyway, joined once the valuation exists.
    assert late["predicted_price"] is None and late["valuation_id"] is None and late["sold_price"] == 55e6
    store_valuations(settings.database, [valuation("late", 50e6, 45e6, 56e6, model="Brio")])
    late = wait_until(lambda: stored(settings)["late"] if stored(settings)["late"]["predicted_price"] else None,
                      what="the late valuation joined")
    assert late["model"] == "Brio" and late["realized_error"] == pytest.approx(0.10) and late["inside_interval"]
    wait_until(lambda: consumer.counts["joined"] == 4, what="the consumer to count the late join")
    assert consumer.counts["stored"] == 4 and consumer.counts["dead_lettered"] == 0


def test_bad_outcomes_are_dead_lettered_with_the_reason(running):
    settings, consumer = running
    send(settings, [payload for payload, _ in MALFORMED] + [outcome("fine", None)], partition=0)
    dead = wait_until(lambda: d if len(d := letters(settings)) == len(MALFORMED) else None,
                      what="the dead letters in the table")
    assert sorted(d["offset"] for d in dead) == list(range(len(MALFORMED)))
    by_offset = {d["offset"]: d for d in dead}
    for offset, (payload, reason) in enumerate(MALFORMED):
        assert reason in by_offset[offset]["reason"], (payload, by_offset[offset]["reason"])
        assert by_offset[offset]["topic"] == settings.topic_outcomes
    assert by_offset[2]["listing_id"] == "bad-3" and by_offset[2]["payload"].startswith('{"listing_id": "bad-3"')
    on_topic = read_topic(settings, settings.topic_dead_letters, expect=len(MALFORMED))
    assert sorted(m["offset"] for m in on_topic) == list(range(len(MALFORMED)))
    assert all(m["reason"] and m["topic"] == settings.topic_outcomes for m in on_topic)
    assert list(wait_until(lambda: stored(settings), what="the good outcome")) == ["fine"]


def consume_until(settings: Settings, done, what: str) -> OutcomeConsumer:
    """Run an outcome consumer in a thread until `done(consumer)`, then stop it."""
    consumer = OutcomeConsumer(settings)
    thread = threading.Thread(target=consumer.run, name="outcomes-until")
    thread.start()
    try:
        wait_until(lambda: done(consumer), what=what)
    finally:
        consumer.stopping = True
        thread.join(timeout=30)
    return consumer


def test_a_replay_upserts_without_duplicates(settings):
    settings = isolated(settings, **FAST)
    store_valuations(settings.database, [valuation(f"r{i}", 100e6, 90e6, 110e6) for i in range(5)])
    send(settings, [outcome(f"r{i}", 95e6 + i * 1e6) for i in range(5)] + [b"not json"])
    first = consume_until(settings, lambda c: c.counts["stored"] + c.counts["dead_lettered"] == 6, "the first pass")
    assert first.counts["stored"] == 5 and first.counts["dead_lettered"] == 1
    before = stored(settings)
    # The same messages again (a new group reads the topic from the start), and a correction.
    send(settings, [outcome("r0", 120e6)])
    replay = settings.model_copy(update={"outcomes_consumer_group": f"replay-{uuid.uuid4().hex[:6]}"})
    again = consume_until(replay, lambda c: c.counts["stored"] + c.counts["dead_lettered"] == 7, "the replay")
    assert again.counts["stored"] == 6 and again.counts["dead_lettered"] == 1
    after = stored(settings)
    assert sorted(after) == sorted(before) and len(letters(settings)) == 1
    assert after["r0"]["sold_price"] == 120e6 and after["r0"]["realized_error"] == pytest.approx(0.20)
    assert after["r0"]["inside_interval"] is False and after["r0"]["valuation_id"] == before["r0"]["valuation_id"]
    assert all(after[k]["realized_error"] == before[k]["realized_error"] for k in ["r1", "r2", "r3", "r4"])


def test_the_command_stops_cleanly_on_sigterm(settings):
    settings = isolated(settings, **FAST)
    log_path = settings.home / "outcomes.log"
    process = subprocess.Popen([sys.executable, "-m", "autovalue_cli.main", "outcomes"], cwd=REPO,
                               env=settings_environment(settings), stdout=open(log_path, "wb"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        wait_until(lambda: "outcomes: assigned" in log_path.read_text(errors="replace"), 60, "group membership")
        send(settings, [outcome("s1", 80e6)])
        wait_until(lambda: stored(settings), what="the outcome stored")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert 'outcomes stopped: {"stored": 1' in log_path.read_text()


def test_the_command_exits_in_one_line_without_a_broker(tmp_path):
    settings = Settings(home=tmp_path, kafka_bootstrap=f"127.0.0.1:{free_port()}", kafka_bootstrap_timeout_ms=2000)
    done = subprocess.run([sys.executable, "-m", "autovalue_cli.main", "outcomes"], cwd=REPO,
                          env=settings_environment(settings), capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"autovalue outcomes: cannot make progress: Kafka at {settings.kafka_bootstrap}: ")
    assert "Traceback" not in done.stderr


def test_the_command_exits_in_one_line_when_the_table_cannot_take_outcomes(settings):
    """An outcomes table of another shape: no wait makes the writes succeed."""
    import sqlite3

    settings = isolated(settings, **FAST)
    path = settings.database.removeprefix("sqlite:///")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE outcomes (listing_id TEXT PRIMARY KEY, price REAL)")
    send(settings, [outcome("o1", 80e6)])
    done = subprocess.run([sys.executable, "-m", "autovalue_cli.main", "outcomes"], cwd=REPO,
                          env=settings_environment(settings), capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"autovalue outcomes: cannot make progress: database sqlite:///{path}: OperationalError: ")
    assert "Traceback" not in done.stderr


def test_outcome_times_are_stored_in_utc(tmp_path):
    """SQLite keeps a time's wall clock without its offset: a +07:00 time must arrive as UTC."""
    store = OutcomeStore(f"sqlite:///{tmp_path / 'utc.db'}")
    message = {"listing_id": "j1", "outcome": "withdrawn", "days_on_market": 3,
               "outcome_at": "2026-05-01T17:00:00+07:00"}
    store.write([Outcome.model_validate_json(json.dumps(message))], [])
    with store.engine.connect() as connection:
        stored_at = connection.execute(select(outcomes.c.outcome_at)).scalar_one()
    store.close()
    assert stored_at.replace(tzinfo=timezone.utc) == T0


ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def postgres(statement: str) -> None:
    try:
        with psycopg.connect(ADMIN, autocommit=True) as connection:
            connection.execute(statement)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is required: {error}")


@pytest.fixture
def postgres_name():
    """The name of a PostgreSQL database this test may create; dropped afterwards."""
    name = f"autovalue_outcomes_{uuid.uuid4().hex[:8]}"
    yield name
    postgres(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.production
def test_the_database_is_waited_for_with_backoff(settings, postgres_name, caplog):
    settings = isolated(settings, **FAST, database_url=f"postgresql+psycopg://postgres@127.0.0.1:5432/{postgres_name}")
    send(settings, [outcome("w1", 70e6)])
    consumer = OutcomeConsumer(settings)
    thread = threading.Thread(target=consumer.run, name="outcomes-waiting")
    thread.start()
    try:
        wait_until(lambda: "database unreachable" in caplog.text, what="a retried database error")
        postgres(f"CREATE DATABASE {postgres_name}")  # the database comes up
        wait_until(lambda: consumer.counts["stored"] == 1, what="the outcome stored once the database is up")
    finally:
        consumer.stopping = True
        thread.join(timeout=30)
    assert list(stored(settings)) == ["w1"]


@pytest.mark.production
def test_the_join_on_postgresql(postgres_name):
    postgres(f"CREATE DATABASE {postgres_name}")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{postgres_name}"
    store = OutcomeStore(url)
    shadow = {"shadow_model_version": "v0", "shadow_price": 84e6}  # the replaced champion, scored in shadow
    store_valuations(url, [{**valuation("p1", 100e6, 90e6, 110e6, rating="fair"), **shadow},
                           {**valuation("p1", 50e6, 40e6, 60e6, version="v2", stored=T0 + timedelta(days=1)),
                            "shadow_model_version": None, "shadow_price": None}])
    now = datetime.now(timezone.utc)
    sold = Outcome(listing_id="p1", outcome="sold", sold_price=105e6, days_on_market=9, outcome_at=now)
    early = Outcome(listing_id="p2", outcome="withdrawn", days_on_market=45, outcome_at=now)
    assert store.write([sold, early], []) == 1
    store_valuations(url, [valuation("p2", 70e6, 60e6, 80e6)])
    assert store.join_waiting() == 1 and store.join_waiting() == 0
    assert store.write([sold.model_copy(update={"sold_price": 80e6})], []) == 1  # a replay joins again
    with store.engine.connect() as connection:
        rows = {r.listing_id: r for r in connection.execute(select(outcomes))}
    store.close()
    assert rows["p1"].model_version == "v1" and rows["p1"].realized_error == pytest.approx(-0.20)
    assert rows["p1"].inside_interval is False and rows["p1"].deal_rating == "fair"
    assert rows["p2"].predicted_price == 70e6 and rows["p2"].inside_interval is None
    assert rows["p1"].shadow_model_version == "v0" and rows["p1"].shadow_abs_pct_error == pytest.approx(4 / 84)
    assert rows["p2"].shadow_price is None and rows["p2"].shadow_abs_pct_error is None
