"""Fault tests of the streaming scorer against a real broker and a real service process.

After each: every listing sent is, exactly once, either in the valuations table or among the
dead letters (asserted on counts and on ids).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from kafka import TopicPartition

from consumers.kafka_clients import group_consumer, json_producer
from autovalue.logs import tracebacks_outside_kafka_python
from deploy.processes import ServerProcess, serve_command, settings_environment, stop_process_group
from autovalue.settings import Settings
from consumers.heartbeat import wait_until_group_settled
from consumers.simulator import MALFORMED_KINDS, ListingFactory, _malformed, simulate
from tests.conftest import free_port
from tests.service_support import REPO, build_market, service_env, train_champion
from tests.streaming import isolated, read_topic, table_ids

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory, kafka_bootstrap):
    settings = Settings(home=tmp_path_factory.mktemp("scorer"), kafka_bootstrap=kafka_bootstrap)
    build_market(settings)
    train_champion(settings)
    port = free_port()
    server = ServerProcess(serve_command(port), service_env(settings), port, settings.home / "service.log").start()
    yield settings.model_copy(update={"service_url": server.url, "service_port": port}), server
    server.stop()


def start_scorer(settings: Settings, name: str) -> subprocess.Popen:
    log = open(settings.home / f"{name}.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "autovalue_cli.main", "score"], cwd=REPO, env=settings_environment(settings),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    process.wait(timeout=30)


def produce_listings(settings: Settings, valid: int, malformed: int = 0) -> tuple[set[str], set[str]]:
    factory = ListingFactory(settings, seed=5)
    listings = factory.batch(valid + malformed)
    producer = json_producer(settings)
    good, bad = set(), set()
    for i, listing in enumerate(listings):
        if i < malformed:
            kind = MALFORMED_KINDS[i % len(MALFORMED_KINDS)]
            producer.send(settings.topic_listings, key=listing["listing_id"], value=_malformed(kind, listing))
            bad.add(listing["listing_id"])
        else:
            producer.send(settings.topic_listings, key=listing["listing_id"], value=listing)
            good.add(listing["listing_id"])
    producer.flush()
    producer.close()
    return good, bad


def wait_for(settings: Settings, total: int, timeout_s: float = 120) -> tuple[list[str], list[dict]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        valued, dead = table_ids(settings)
        if len(valued) + len(dead) >= total:
            time.sleep(1.0)  # anything beyond the expected would show up now
            return table_ids(settings)
        time.sleep(0.3)
    return table_ids(settings)


def assert_exactly_once(valued: list[str], dead: list[dict], good: set[str], malformed: int) -> None:
    """The tables' unique keys keep a listing from being stored twice in one table; what no
    constraint keeps: every good listing valued, none of them dead-lettered, every malformed
    record dead-lettered (and none lost)."""
    assert set(valued) == good
    assert len(dead) == malformed
    assert good.isdisjoint(d["listing_id"] for d in dead), "a good listing was dead-lettered"


def test_sigkill_mid_stream_and_restart_loses_and_duplicates_nothing(stack):
    settings = isolated(stack[0])
    good, bad = produce_listings(settings, valid=3000, malformed=40)
    first = start_scorer(settings, "scorer-a")
    deadline = time.monotonic() + 60
    while len(table_ids(settings)[0]) < 600 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop(first, signal.SIGKILL)
    killed_at = len(table_ids(settings)[0])
    assert 0 < killed_at < 3000, "the kill should land mid-stream"
    second = start_scorer(settings, "scorer-b")
    valued, dead = wait_for(settings, 3040)
    stop(second)
    assert_exactly_once(valued, dead, good, malformed=40)
    # On the topic a replay may repeat a valuation, always with the same id: a consumer dedupes by it.
    ids: dict[str, set] = {}
    for message in read_topic(settings, settings.topic_valuations, expect=3000, timeout_s=60, distinct="listing_id"):
        ids.setdefault(message["listing_id"], set()).add(message["valuation_id"])
    assert set(ids) == good and all(len(found) == 1 for found in ids.values())


def test_service_down_for_ten_seconds_mid_stream(stack):
    settings, server = stack
    settings = isolated(settings)
    scorer = start_scorer(settings, "scorer-outage")
    producing = threading.Thread(target=simulate, args=(settings, 150.0, 20.0, 0.0, 9))
    producing.start()
    wait_until_group_settled(settings, 1)
    deadline = time.monotonic() + 60
    while not table_ids(settings)[0] and time.monotonic() < deadline:  # mid-stream: valuing has begun
        time.sleep(0.2)
    server.stop()
    stopped_with = len(table_ids(settings)[0])
    time.sleep(10)
    during_outage = len(table_ids(settings)[0])
    server.start()
    producing.join()
    valued, dead = wait_for(settings, 3000)
    stop(scorer)
    assert during_outage == stopped_with or during_outage - stopped_with < 600  # at most the in-flight batches
    assert len(valued) == len(set(valued)) == 3000 and dead == []
    log = (settings.home / "scorer-outage.log").read_text()
    assert "valuation service unavailable" in log


def test_two_consumers_split_the_partitions_and_value_everything_once(stack):
    settings = isolated(stack[0])
    scorers = [start_scorer(settings, f"scorer-{i}") for i in (1, 2)]
    wait_until_group_settled(settings, 2)  # both hold partitions before the stream starts
    good, _ = produce_listings(settings, valid=3000)
    valued, dead = wait_for(settings, 3000)
    for scorer in scorers:
        stop(scorer)
    assert_exactly_once(valued, dead, good, malformed=0)
    shares = []
    for i in (1, 2):
        match = re.search(r'scorer stopped: \{"valued": (\d+)', (settings.home / f"scorer-{i}.log").read_text())
        shares.append(int(match.group(1)) if match else 0)
    assert all(share > 0 for share in shares), shares
    # Graceful stops: each valuation was sent once, and the group committed every offset.
    messages = read_topic(settings, settings.topic_valuations, expect=3000)
    assert sorted(m["listing_id"] for m in messages) == sorted(good)
    assert sum(committed_offsets(settings).values()) == 3000


def test_a_scorer_joining_and_leaving_a_busy_group_crashes_nobody(stack):
    """A second scorer joins mid-stream and leaves again: the first one's commits meet both
    rebalances (kafka-python raises RebalanceInProgressError there), and it carries on."""
    settings = isolated(stack[0])
    first = start_scorer(settings, "busy-1")
    wait_until_group_settled(settings, 1)
    producing = threading.Thread(target=lambda: counts.update(simulate(settings, 300.0, 15.0, 0.0, 11).listings))
    counts: dict = {}
    producing.start()
    deadline = time.monotonic() + 60
    while len(table_ids(settings)[0]) < 300 and time.monotonic() < deadline:
        time.sleep(0.1)
    second = start_scorer(settings, "busy-2")
    wait_until_group_settled(settings, 2)
    stop(second)
    producing.join()
    valued, dead = wait_for(settings, counts["valid"])
    assert first.poll() is None, "the first scorer died"
    stop(first)
    assert (first.returncode, second.returncode) == (0, 0)
    assert len(valued) == len(set(valued)) == counts["valid"] and dead == []
    for name in ("busy-1", "busy-2"):
        assert tracebacks_outside_kafka_python(settings.home / f"{name}.log") == []


def committed_offsets(settings: Settings) -> dict:
    consumer = group_consumer(settings)  # not subscribed: asks the group's offsets without joining it
    topic = settings.topic_listings
    try:
        return {p: consumer.committed(TopicPartition(topic, p)) or 0 for p in consumer.partitions_for_topic(topic)}
    finally:
        consumer.close()


def test_valuations_sit_where_their_key_puts_them(stack):
    """Keyed listings: the valuation takes the listing's partition number (no hashing); an
    unkeyed listing's valuation is placed by its listing_id key, as the default partitioner would."""
    import json

    from kafka.partitioner.default import murmur2

    from consumers.kafka_clients import assign_from_time, partition_reader
    from consumers.scorer import Scorer

    settings = isolated(stack[0])
    listings = ListingFactory(settings, seed=9).batch(60)
    producer = json_producer(settings)
    for i, listing in enumerate(listings):
        producer.send(settings.topic_listings, key=listing["listing_id"] if i % 2 else None, value=listing)
    producer.flush()
    producer.close()
    Scorer(settings).run(idle_exit_s=3)

    def placed(topic: str) -> dict[str, int]:
        consumer = partition_reader(settings, fetch_max_wait_ms=50)
        assign_from_time(consumer, topic, None)
        out, deadline = {}, time.monotonic() + 20
        while len(out) < len(listings) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                out.update({json.loads(r.value)["listing_id"]: r.partition for r in batch})
                if topic == settings.topic_valuations:  # keyed by listing id, with the valuation id as a header
                    for r in batch:
                        value = json.loads(r.value)
                        assert r.key == value["listing_id"].encode()
                        assert dict(r.headers)["valuation_id"] == value["valuation_id"].encode()
        consumer.close()
        return out

    source, valued = placed(settings.topic_listings), placed(settings.topic_valuations)
    assert len(valued) == len(listings)
    for i, listing in enumerate(listings):
        listing_id = listing["listing_id"]
        by_key = (murmur2(listing_id.encode()) & 0x7FFFFFFF) % settings.topic_partitions  # Kafka's default
        assert valued[listing_id] == (source[listing_id] if i % 2 else by_key), (i, listing_id)
    # The unkeyed listings were spread without regard to their ids: some sit elsewhere than their key's.
    assert any(source[x["listing_id"]] != valued[x["listing_id"]] for x in listings[::2])


def test_rescore_with_a_new_champion_adds_rows_and_keeps_the_old(stack):
    from consumers.rescore import Rescorer

    settings, _ = stack
    settings = isolated(settings)
    good, _ = produce_listings(settings, valid=300)
    first = start_scorer(settings, "scorer-before-rescore")
    valued, _ = wait_for(settings, 300)
    stop(first)
    assert set(valued) == good

    challenger = train_champion(settings)
    assert challenger["version"] == "v2"
    # The champion was judged on the challenger's holdout (its market source computed, not missing).
    from training.tracking import mlflow_client
    decision = mlflow_client(settings).get_run(challenger["mlflow_run_id"]).data.tags["champion_decision"]
    assert "beat" in decision and "cannot be scored" not in decision, decision
    port = free_port()
    env = service_env(settings, AUTOVALUE_BENTO_MODEL_VERSION="v2")
    challenger = ServerProcess(serve_command(port), env, port, settings.home / "service-v2.log").start()
    try:
        rescorer = Rescorer(settings.model_copy(update={"service_url": challenger.url}))
        assert rescorer.rescore(from_offset=0) == 300
    finally:
        challenger.stop()
    engine_rows = table_versions(settings)
    assert sorted(engine_rows) == ["v1", "v2"]
    assert engine_rows["v1"] == engine_rows["v2"] == good


def table_versions(settings: Settings) -> dict[str, set[str]]:
    from sqlalchemy import select

    from autovalue.tables import connect, valuations

    engine = connect(settings.database)
    with engine.connect() as connection:
        rows = connection.execute(select(valuations.c.model_version, valuations.c.listing_id)).all()
    engine.dispose()
    out: dict[str, set[str]] = {}
    for version, listing_id in rows:
        out.setdefault(version, set()).add(listing_id)
    return out


def test_streamed_listings_reach_the_online_market_statistics_through_the_feed(stack):
    from autovalue.keys import model_key
    from feature_repo.config import feature_store

    settings = isolated(stack[0], market_push_interval_s=1.0)
    store = feature_store(settings)
    features = ["model_market:model_ask_median_7d", "model_market:model_listings_7d"]
    key = [{"model_key": model_key("Wuling", "Air ev")}]
    before = store.get_online_features(features=features, entity_rows=key).to_dict()
    assert before["model_ask_median_7d"][0] != pytest.approx(2e9)
    log = open(settings.home / "market-feed.log", "ab")
    feed = subprocess.Popen([sys.executable, "-m", "autovalue_cli.main", "market-feed"], cwd=REPO,
                            env=settings_environment(settings), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        factory = ListingFactory(settings, seed=3)
        expensive = [{**listing, "brand": "Wuling", "model": "Air ev", "asking_price": 2e9}
                     for listing in factory.batch(300)]
        producer = json_producer(settings)
        for listing in expensive:
            producer.send(settings.topic_listings, key=listing["listing_id"], value=listing)
        producer.flush()
        producer.close()
        deadline, after = time.monotonic() + 90, before
        while time.monotonic() < deadline and after["model_ask_median_7d"][0] != pytest.approx(2e9):
            assert feed.poll() is None, f"the market feed exited with {feed.returncode}"
            time.sleep(0.5)
            after = store.get_online_features(features=features, entity_rows=key).to_dict()
        assert after["model_ask_median_7d"][0] == pytest.approx(2e9), (before, after)
        assert after["model_listings_7d"][0] >= 300
        stop(feed)
        assert feed.returncode == 0  # a stop is a clean exit, after a last push
    finally:
        if feed.poll() is None:
            stop_process_group(feed)
