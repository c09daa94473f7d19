"""`autovalue rescore`: re-value a stretch of the listings topic with the current champion.

Rows are keyed by listing version and model version, so a new champion adds new rows and
the old valuations stay; rescoring with the same champion rewrites the same rows.
The rescorer reads partitions directly (no group, no commits): it never moves the scorer.
"""

from __future__ import annotations

import logging
from datetime import datetime

from kafka import KafkaConsumer, TopicPartition

from autovalue.settings import Settings
from consumers.scorer import Scorer

log = logging.getLogger(__name__)


class Rescorer(Scorer):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.consumer.close()
        self.consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
                                      group_id=None, fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
                                      max_poll_records=settings.scorer_batch_size)

    def _commit(self, records) -> None:
        """Nothing to commit: the range is chosen on the command line."""

    def _keep_alive(self) -> bool:
        return not self.stopping

    def rescore(self, since: datetime | None = None, from_offset: int | None = None) -> int:
        topic = self.settings.topic_listings
        partitions = [TopicPartition(topic, p) for p in sorted(self.consumer.partitions_for_topic(topic) or [])]
        self.consumer.assign(partitions)
        end = self.consumer.end_offsets(partitions)
        if since is not None:
            found = self.consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in partitions})
            for tp in partitions:
                self.consumer.seek(tp, found[tp].offset if found.get(tp) else end[tp])
        else:
            for tp in partitions:
                self.consumer.seek(tp, min(from_offset or 0, end[tp]))
        done = 0
        try:
            while not self.stopping and any(self.consumer.position(tp) < end[tp] for tp in partitions):
                polled = self.consumer.poll(timeout_ms=500)
                records = [r for tp, batch in polled.items() for r in batch if r.offset < end[tp]]
                if records and self.process(records):
                    done += len(records)
        finally:
            self.close()
        return done
