"""The scorer's fetch settings against a deep partition on the embedded broker (tansu, memory).

tansu finds a fetch's first batch by a scan that grows with the partition's batch count and
answers empty once the scan outlasts the fetch wait: at 40,000 one-record batches a 10 ms wait
got nothing at all (MEASURED.md, bench/README.md). The scorer's consumer must drain such a
partition.
"""

from __future__ import annotations

import time
import uuid

import pytest
from kafka.admin import NewTopic

from consumers.kafka_clients import admin, json_producer
from consumers.scorer import listings_consumer

pytestmark = pytest.mark.slow

RECORDS = 40_000


def test_a_consumer_with_the_scorers_settings_drains_a_deep_partition(settings):
    topic = f"deep-{uuid.uuid4().hex[:8]}"
    client = admin(settings)
    try:
        client.create_topics([NewTopic(topic, 1, 1)])
    finally:
        client.close()
    # One record per batch (batch_size=1), as a slow steady producer leaves them: the depth
    # that matters to tansu is the batch count.
    producer = json_producer(settings, linger_ms=0, batch_size=1)
    for i in range(RECORDS):
        producer.send(topic, value=b'{"listing_id": "deep-%d"}' % i)
    producer.flush()
    producer.close()

    consumer = listings_consumer(settings.model_copy(update={"topic_listings": topic,
                                                             "consumer_group": f"deep-{topic}"}))
    seen, longest_gap, last = 0, 0.0, time.monotonic()
    try:
        while seen < RECORDS and time.monotonic() - last < 60:  # generous: a shared machine
            got = sum(len(batch) for batch in consumer.poll(timeout_ms=200).values())
            now = time.monotonic()
            if got:
                if seen:  # the group join before the first records is not a stall
                    longest_gap = max(longest_gap, now - last)
                seen, last = seen + got, now
    finally:
        consumer.close()
    assert seen == RECORDS, f"drained {seen} of {RECORDS}"
    assert longest_gap < 30, f"fetches came back empty for {longest_gap:.0f} s in a row"
