"""kafka-python clients configured from settings: the same code talks to tansu or Apache Kafka."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from autovalue.settings import Settings


def admin(settings: Settings, timeout_ms: int = 5000) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        request_timeout_ms=timeout_ms,
        client_id="autovalue-admin",
    )


def broker_answers(settings: Settings, timeout_ms: int = 2000) -> bool:
    """True when something at the bootstrap address answers a Kafka metadata request."""
    host, port = settings.kafka_host_port
    try:
        # The admin client retries a refused bootstrap for 30 s: ask the socket first.
        socket.create_connection((host, port), timeout=timeout_ms / 1000).close()
    except OSError:
        return False
    try:
        client = admin(settings, timeout_ms)
    except (KafkaError, OSError, ValueError):
        return False
    try:
        client.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        client.close()


def wait_for_broker(settings: Settings, timeout_s: float, every_s: float = 1.0) -> bool:
    """Whether a broker answers at the bootstrap address within `timeout_s` (asked every `every_s`)."""
    deadline = time.monotonic() + timeout_s
    while not broker_answers(settings):
        if time.monotonic() >= deadline:
            return False
        time.sleep(every_s)
    return True


def ensure_topics(settings: Settings) -> list[str]:
    """Create the system's topics when missing; returns the ones this call created."""
    names = [settings.topic_listings, settings.topic_valuations, settings.topic_dead_letters, settings.topic_outcomes]
    client = admin(settings)
    try:
        missing = [name for name in names if name not in set(client.list_topics())]
        for name in missing:
            try:
                client.create_topics([NewTopic(name, settings.topic_partitions, settings.topic_replication_factor)])
            except TopicAlreadyExistsError:
                pass  # another process won the race
        return missing
    finally:
        client.close()


def json_producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    config: dict[str, Any] = dict(
        bootstrap_servers=settings.kafka_bootstrap,
        key_serializer=lambda key: key.encode() if isinstance(key, str) else key,
        value_serializer=lambda value: value if isinstance(value, bytes) else json.dumps(value, default=str).encode(),
        linger_ms=5,
        acks="all",
        # A restarted in-memory broker makes an idempotent producer fail every send for good.
        enable_idempotence=False,
    )
    config.update(overrides)
    return KafkaProducer(**config)


def group_consumer(settings: Settings, *topics: str, group_id: str | None = None, **overrides: Any) -> KafkaConsumer:
    """A consumer-group member with manual commits; values stay raw bytes (the caller validates)."""
    config: dict[str, Any] = dict(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group_id or settings.consumer_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        max_poll_interval_ms=settings.kafka_max_poll_interval_ms,
        bootstrap_timeout_ms=settings.kafka_bootstrap_timeout_ms,
    )
    config.update(overrides)
    return KafkaConsumer(*topics, **config)


def partition_reader(settings: Settings, **overrides: Any) -> KafkaConsumer:
    """A consumer outside any group (the caller assigns and seeks): it never moves a group's offsets."""
    config: dict[str, Any] = dict(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",  # a seek before the log's start lands on its start
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
    )
    config.update(overrides)
    return KafkaConsumer(**config)


def assign_from_time(consumer: KafkaConsumer, topic: str, since_ms: int | None) -> list:
    """Assign every partition of `topic` and seek each to its first record at or after
    `since_ms` (to the end where there is none; to the start when `since_ms` is None)."""
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(partitions)
    if since_ms is None:
        consumer.seek_to_beginning(*partitions)
        return partitions
    found = consumer.offsets_for_times({tp: since_ms for tp in partitions})
    for tp in partitions:
        if found.get(tp):
            consumer.seek(tp, found[tp].offset)
        else:
            consumer.seek_to_end(tp)
    return partitions
