"""`autovalue rescore`: re-value a stretch of the listings topic with the current champion.

Rows are keyed by listing version and model version, so a new champion adds new rows and
the old valuations stay; rescoring with the same champion rewrites the same rows.
The rescorer reads partitions directly (no group, no commits): it never moves the scorer.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from consumers.kafka_clients import assign_from_time, partition_reader
from autovalue.settings import Settings
from consumers.scorer import Scorer

log = logging.getLogger(__name__)

# The range ends when nothing older than the start of the rescore arrives for this long.
IDLE_END_S = 2.0


class Rescorer(Scorer):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, consumer=partition_reader(settings, max_poll_records=settings.scorer_batch))

    def _commit(self, records) -> None:
        """Nothing to commit: the range is chosen on the command line."""

    def _keep_alive(self) -> None:
        """No group to stay in."""

    def rescore(self, since: datetime | None = None, from_offset: int | None = None) -> int:
        topic = self.settings.topic_listings
        started_ms = int(time.time() * 1000)
        if since is not None:
            assign_from_time(self.consumer, topic, int(since.timestamp() * 1000))
        else:
            for tp in assign_from_time(self.consumer, topic, None):
                if from_offset is not None:
                    self.consumer.seek(tp, from_offset)
        # Read up to what was there when the rescore began. Log ends are not asked for: tansu
        # reports the last batch's base offset + 1 as the end. Record timestamps decide instead.
        done, idle_since = 0, time.monotonic()
        try:
            while not self.stopping and time.monotonic() - idle_since < IDLE_END_S:
                polled = self.consumer.poll(timeout_ms=200)
                records = [r for batch in polled.values() for r in batch if r.timestamp <= started_ms]
                if records and self.process(records):
                    done += len(records)
                if records:
                    idle_since = time.monotonic()
        finally:
            self.close()
        return done
