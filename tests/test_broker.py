"""The embedded broker: real tansu, real kafka-python clients, consumer group with manual commits."""

from __future__ import annotations

import json
import uuid

import pytest

from kafka import TopicPartition

from consumers.kafka_clients import broker_answers, ensure_topics, group_consumer, json_producer
from autovalue.settings import Settings
from broker.embedded import EmbeddedBroker


def test_topics_exist_with_configured_partitions(settings):
    from consumers.kafka_clients import admin

    client = admin(settings)
    try:
        described = {t["name"]: t for t in client.describe_topics([settings.topic_listings, settings.topic_dead_letters])}
    finally:
        client.close()
    assert len(described[settings.topic_listings]["partitions"]) == settings.topic_partitions
    assert len(described[settings.topic_dead_letters]["partitions"]) == settings.topic_partitions


def test_topics_get_the_configured_replication_factor(settings):
    """Settings().topic_replication_factor reaches the broker (tansu records the replica list it was asked for)."""
    from consumers.kafka_clients import admin
    from tests.streaming import isolated

    assert Settings().topic_replication_factor == 1  # the embedded default: one broker
    replicated = isolated(settings, topic_replication_factor=3)
    client = admin(replicated)
    try:
        (topic,) = client.describe_topics([replicated.topic_listings])
    finally:
        client.close()
    assert [len(p["replica_nodes"]) for p in topic["partitions"]] == [3] * settings.topic_partitions


def test_second_start_reuses_the_running_broker(settings):
    broker = EmbeddedBroker(settings).start()
    assert broker.reused and broker.process is None
    assert ensure_topics(settings) == []


def test_nothing_answers_on_a_free_port(tmp_path):
    from tests.conftest import free_port

    assert not broker_answers(Settings(home=tmp_path, kafka_bootstrap=f"127.0.0.1:{free_port()}"), timeout_ms=500)


@pytest.mark.slow  # waits for a consumer group join on the real broker
def test_produce_and_consume_in_a_group_with_manual_commit(settings):
    group = f"test-{uuid.uuid4().hex[:8]}"
    ids = [f"listing-{i}" for i in range(60)]
    producer = json_producer(settings)
    for listing_id in ids:
        producer.send(settings.topic_listings, key=listing_id, value={"listing_id": listing_id})
    producer.flush()
    producer.close()

    def drain(consumer, want, polls=40):
        seen = []
        for _ in range(polls):
            for records in consumer.poll(timeout_ms=500).values():
                seen += [json.loads(r.value)["listing_id"] for r in records]
            if len(seen) >= want:
                break
        return seen

    consumer = group_consumer(settings, settings.topic_listings, group_id=group)
    first = drain(consumer, len(ids))
    assert sorted(first) == sorted(ids)
    consumer.commit()
    partitions = [TopicPartition(settings.topic_listings, p) for p in range(settings.topic_partitions)]
    committed = sum(consumer.committed(tp) or 0 for tp in partitions)
    consumer.close()
    assert committed >= len(ids)

    # A new member of the same group starts after the committed offsets: nothing is read twice.
    again = group_consumer(settings, settings.topic_listings, group_id=group)
    assert drain(again, 1, polls=12) == []
    again.close()


def test_the_demo_starts_a_dead_broker_again_and_says_what_was_lost(tmp_path, capsys):
    import os
    import signal

    from deploy.supervisor import Supervisor
    from deploy.demo import _broker_watch
    from tests.conftest import free_port

    settings = Settings(home=tmp_path, kafka_bootstrap=f"127.0.0.1:{free_port()}")
    broker = EmbeddedBroker(settings).start()
    children = Supervisor(tmp_path)
    try:
        _broker_watch(broker, children, tmp_path / "scorer.log")  # alive: nothing to do or say
        assert capsys.readouterr().err == ""
        os.killpg(broker.process.pid, signal.SIGKILL)
        broker.process.wait()
        _broker_watch(broker, children, tmp_path / "scorer.log")
        said = capsys.readouterr().err
        assert "tansu exited with status -9 and was started again, empty" in said
        assert "the listings not yet valued are lost" in said and str(tmp_path / "scorer.log") in said
        assert broker_answers(settings)
        assert broker.process.pid in children.spared  # the restarted broker is the demo's own, never ended as an orphan
    finally:
        broker.stop()
