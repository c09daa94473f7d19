"""Consumer lag of the scorer's group on the listings topic: end offset minus committed offset,
per partition. The broker is asked through the core's admin client (kafka-python)."""

from __future__ import annotations

import pandas as pd
from kafka import TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError

from app.guard import BrokerUnavailable, NoData
from autovalue.kafka_clients import admin, broker_answers
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
        partitions = sorted(p["partition"] for d in described if d.get("topic") == topic
                            for p in d.get("partitions", []))
        if not partitions:
            raise NoData(f"The topic {topic} does not exist yet: nothing has been produced.")
        parts = [TopicPartition(topic, p) for p in partitions]
        ends = client.list_partition_offsets({tp: OffsetSpec.LATEST for tp in parts})
        committed = client.list_group_offsets({group: parts}).get(group, {})
    except KafkaError as error:
        raise BrokerUnavailable(f"the Kafka broker at {settings.kafka_bootstrap} did not answer ({error}).") from error
    finally:
        client.close()
    rows = []
    for tp in parts:
        end = ends[tp].offset
        done = committed.get(tp)
        position = done.offset if done is not None and done.offset >= 0 else 0
        rows.append({"partition": tp.partition, "end": end, "committed": position, "lag": max(end - position, 0)})
    return pd.DataFrame(rows)
