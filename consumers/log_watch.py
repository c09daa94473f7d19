"""Saying plainly when the broker lost listings: the embedded broker keeps its logs in memory,
so a restarted one starts every partition again at offset 0, with no committed offsets, and
kafka-python only warns that a topic id changed. The scorer knows what it committed and the
end offsets it last saw; a partition whose position falls below its own last commit
was recreated, and the listings between that commit and the last end it saw were never valued."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class LogWatch:
    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.committed: dict[int, int] = {}  # partition -> the offset after our last committed record
        self.last_end: dict[int, int] = {}  # partition -> the end offset last measured
        self.lost_count = 0

    def commit_done(self, offsets: dict[int, int]) -> None:
        for partition, offset in offsets.items():
            self.committed[partition] = max(self.committed.get(partition, 0), offset)

    def measured(self, partition: int, end: int, position: int) -> None:
        """The partition's end offset and this consumer's position now; logs one line when the
        partition's log was recreated since the last measurement."""
        committed = self.committed.get(partition)
        # The position, not the end: tansu reports an end below the last batch's records.
        if committed is not None and position < committed:
            last_end = max(self.last_end.get(partition, committed), committed)
            missing = last_end - committed
            self.lost_count += missing
            log.error("partition %s/%d was recreated (position %d, below our last commit %d): the broker lost its "
                      "log (a restarted in-memory broker). Up to %d listing(s) at offsets %d-%d that were on the "
                      "broker and not yet valued are lost (those of a batch in flight may still be stored); %d "
                      "lost in all since this scorer started. Valuing the new log from its start.", self.topic, partition, position, committed, missing, committed,
                      last_end - 1, self.lost_count)
            del self.committed[partition]
        self.last_end[partition] = end
