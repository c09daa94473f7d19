"""Helpers for streaming tests: isolated topics per test, reading topics and tables back."""

from __future__ import annotations

import json
import os
import uuid

from sqlalchemy import select

from autovalue.kafka_clients import assign_from_time, ensure_topics, json_producer, partition_reader
from autovalue.settings import Settings
from autovalue.tables import connect, dead_letters, scorer_heartbeats, valuations


def isolated(settings: Settings, **overrides) -> Settings:
    """The same broker and home, with topics, group and valuations database of this test only."""
    tag = uuid.uuid4().hex[:8]
    isolated_settings = settings.model_copy(update={
        "topic_listings": f"listings-{tag}", "topic_valuations": f"valuations-{tag}",
        "topic_dead_letters": f"dlq-{tag}", "topic_outcomes": f"outcomes-{tag}", "consumer_group": f"scorer-{tag}",
        "outcomes_consumer_group": f"outcomes-{tag}",
        "database_url": f"sqlite:///{settings.data_dir / f'valuations-{tag}.db'}", **overrides})
    ensure_topics(isolated_settings)
    return isolated_settings


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process's Settings() equal `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOVALUE_")}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is not None:
            env[f"AUTOVALUE_{name.upper()}"] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    env.update(BENTOML_DO_NOT_TRACK="true", OTEL_SDK_DISABLED="true", PYTHONUNBUFFERED="1",
               BENTOML_HOME=str(settings.bentoml_store))
    return env


def produce(settings: Settings, payloads: list) -> None:
    producer = json_producer(settings)
    for payload in payloads:
        producer.send(settings.topic_listings, value=payload)
    producer.flush()
    producer.close()


def read_topic(settings: Settings, topic: str, expect: int, timeout_s: float = 20,
               distinct: str | None = None) -> list[dict]:
    """Messages of `topic` until `expect` were read (with `distinct`, `expect` different values
    of that field: a topic with replayed duplicates holds more messages than listings)."""
    import time

    def enough(out: list[dict]) -> bool:
        return len({m.get(distinct) for m in out} if distinct else out) >= expect

    consumer = partition_reader(settings, fetch_max_wait_ms=50)
    assign_from_time(consumer, topic, None)
    out, deadline = [], time.monotonic() + timeout_s
    while not enough(out) and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=200).values():
            out += [json.loads(r.value) for r in batch]
    # A little longer, to see anything beyond what was expected.
    for batch in consumer.poll(timeout_ms=500).values():
        out += [json.loads(r.value) for r in batch]
    consumer.close()
    return out


def table_ids(settings: Settings) -> tuple[list[str], list[dict]]:
    engine = connect(settings.database)
    with engine.connect() as connection:
        valued = [row[0] for row in connection.execute(select(valuations.c.listing_id))]
        dead = [dict(row._mapping) for row in connection.execute(select(dead_letters))]
    engine.dispose()
    return valued, dead


def wait_for_members(settings: Settings, members: int, timeout_s: float = 120) -> list[dict]:
    """Until `members` scorers of the group hold partitions and together hold each partition
    exactly once, by their heartbeat rows (written as soon as an assignment changes): the
    group's rebalance has settled. Returns the rows; raises after `timeout_s`."""
    import time

    deadline, rows = time.monotonic() + timeout_s, []
    while time.monotonic() < deadline:
        engine = connect(settings.database)
        with engine.connect() as connection:
            rows = [dict(r._mapping) for r in connection.execute(
                select(scorer_heartbeats).where(scorer_heartbeats.c.consumer_group == settings.consumer_group))]
        engine.dispose()
        held = [r["partitions"].split(",") for r in rows if r["partitions"]]
        flat = [p for partitions in held for p in partitions]
        if len(held) == members and len(flat) == len(set(flat)) == settings.topic_partitions:
            return rows
        time.sleep(0.2)
    raise AssertionError(f"{members} scorers did not settle in group {settings.consumer_group}: {rows}")


def score_until_stored(settings: Settings, payloads: list, stored: int | None = None, timeout_s: float = 180) -> None:
    """The real scorer (`autovalue score --no-push`) over `payloads` until `stored` rows (default:
    one per payload) are in the valuations and dead-letter tables together; fails if it exits."""
    import subprocess
    import sys
    import time

    from tests.service_support import REPO, stop_process_group

    expected = len(payloads) if stored is None else stored
    scorer = subprocess.Popen([sys.executable, "-m", "autovalue_cli.main", "score", "--no-push"], cwd=REPO,
                              env=settings_env(settings), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        produce(settings, payloads)
        deadline = time.monotonic() + timeout_s
        while sum(map(len, table_ids(settings))) < expected and time.monotonic() < deadline:
            assert scorer.poll() is None, f"the scorer exited with {scorer.returncode}"
            time.sleep(0.5)  # polling a table: the condition, not the time, ends the wait
    finally:
        stop_process_group(scorer)
