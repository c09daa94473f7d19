"""Helpers for streaming tests: isolated topics per test, reading topics and tables back."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import select

from consumers.kafka_clients import assign_from_time, ensure_topics, json_producer, partition_reader
from autovalue.settings import Settings
from autovalue.tables import connect, dead_letters, valuations


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


def score_until_stored(settings: Settings, payloads: list, stored: int | None = None, timeout_s: float = 180) -> None:
    """The real scorer (`autovalue score`) over `payloads` until `stored` rows (default:
    one per payload) are in the valuations and dead-letter tables together; fails if it exits."""
    import subprocess
    import sys
    import time

    from deploy.processes import settings_environment, stop_process_group
    from tests.service_support import REPO

    expected = len(payloads) if stored is None else stored
    scorer = subprocess.Popen([sys.executable, "-m", "autovalue_cli.main", "score"], cwd=REPO,
                              env=settings_environment(settings), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        produce(settings, payloads)
        deadline = time.monotonic() + timeout_s
        while sum(map(len, table_ids(settings))) < expected and time.monotonic() < deadline:
            assert scorer.poll() is None, f"the scorer exited with {scorer.returncode}"
            time.sleep(0.5)  # polling a table: the condition, not the time, ends the wait
    finally:
        stop_process_group(scorer)
