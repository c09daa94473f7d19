"""Consumer lag of the scorer's group on the listings topic: end offset minus committed offset,
per partition. The broker is asked through the core's admin client (kafka-python)."""

from __future__ import annotations

import pandas as pd
import time

from kafka import TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError

from app.guard import BrokerUnavailable, NoData
from consumers.kafka_clients import admin, broker_answers, partition_reader
from autovalue.settings import Settings


def consumer_lag(settings: Settings, timeout_ms: int = 3000) -> pd.DataFrame:
    """Columns: partition, end, committed, lag. A partition the group never committed counts
    its whole log as lag (the scorer has not started on it)."""
    topic, group = settings.topic_listings, settings.consumer_group
    if not broker_answers(settings, timeout_ms=1500):
        raise BrokerUnavailable(f"the Kafka broker at {settings.kafka_bootstrap} is unreachable, "
                                "so consumer lag is unknown.")
    try:
        client = admin(settings, timeout_ms)
    except (KafkaError, OSError, ValueError) as error:
        raise BrokerUnavailable(f"cannot talk to the Kafka broker at {settings.kafka_bootstrap} ({error}).") from error
    try:
        described = client.describe_topics([topic])
        partitions = sorted(p["partition_index"] for d in described
                            if d.get("name") == topic and not d.get("error_code")
                            for p in d.get("partitions") or [])
        if not partitions:
            raise NoData(f"The topic {topic} does not exist yet: nothing has been produced.")
        parts = [TopicPartition(topic, p) for p in partitions]
        ends = client.list_partition_offsets({tp: OffsetSpec.LATEST for tp in parts})
        committed = client.list_group_offsets({group: parts}).get(group, {})
    except KafkaError as error:
        raise BrokerUnavailable(f"the Kafka broker at {settings.kafka_bootstrap} did not answer ({error}).") from error
    finally:
        client.close()
    true_ends = _read_to_end(settings, {tp: ends[tp].offset for tp in parts})
    rows = []
    for tp in parts:
        end = true_ends[tp]
        done = committed.get(tp)
        position = done.offset if done is not None and done.offset >= 0 else 0
        rows.append({"partition": tp.partition, "end": end, "committed": position, "lag": max(end - position, 0)})
    return pd.DataFrame(rows)


def _read_to_end(settings: Settings, reported: dict[TopicPartition, int], budget_s: float = 1.5) -> dict:
    """The real log-end offsets. tansu (the embedded broker) answers ListOffsets LATEST with the
    base offset of the last record batch + 1, not the offset after its last record; reading
    from there to the end of that batch gives the true end (exact on Apache Kafka too, where
    nothing follows the reported end). Bounded in time: under a live producer it is a lower bound."""
    ends = dict(reported)
    consumer = partition_reader(settings, fetch_max_wait_ms=50, request_timeout_ms=3000)
    try:
        wanted = [tp for tp, offset in reported.items() if offset > 0]
        if not wanted:
            return ends
        consumer.assign(wanted)
        for tp in wanted:
            consumer.seek(tp, reported[tp] - 1)
        deadline = time.monotonic() + budget_s
        while time.monotonic() < deadline:
            batches = consumer.poll(timeout_ms=200, max_records=10_000)
            if not batches:
                break
            for tp, records in batches.items():
                ends[tp] = max(ends[tp], records[-1].offset + 1)
    except KafkaError:
        pass  # keep the reported offsets: lag shown is then a lower bound
    finally:
        consumer.close()
    return ends
