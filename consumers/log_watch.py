"""Saying plainly when the broker lost listings: the embedded broker keeps its logs in memory,
so a restarted one starts every partition again at offset 0, with no committed offsets, and
kafka-python only warns that a topic id changed. A partition was recreated when the end offset
the broker reports falls below one it reported before (on a living log it never does). The
listings between this scorer's last commit, as of the measurement before, and the last end it
saw were never valued. The scorer then rejoins (consumers/liveness.py): a fresh member starts on
the new log."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class LogWatch:
    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.committed: dict[int, int] = {}  # partition -> the offset after our last committed record
        # ...as of the last measurement: a commit after the restart may be of the new log already
        self.committed_then: dict[int, int] = {}
        self.reported: dict[int, int] = {}  # partition -> the end offset the broker last reported
        self.last_end: dict[int, int] = {}  # partition -> the best end offset known (high watermark too)
        self.lost_count = 0

    def commit_done(self, offsets: dict[int, int]) -> None:
        for partition, offset in offsets.items():
            self.committed[partition] = max(self.committed.get(partition, 0), offset)

    def measured(self, partition: int, reported: int, end: int) -> bool:
        """The end offset the broker reports now and the best end known (with the high
        watermark). True, after one log line, when the partition's log was recreated since the
        last measurement."""
        before = self.reported.get(partition)
        self.reported[partition] = reported
        # A reported end is a lower bound on tansu (the last batch's start), but it never moves back.
        if before is None or reported >= before:
            self.last_end[partition] = max(self.last_end.get(partition, 0), end)
            if partition in self.committed:
                self.committed_then[partition] = self.committed[partition]
            return False
        last_end, done = max(self.last_end.get(partition, 0), before), self.committed_then.pop(partition, None)
        self.committed.pop(partition, None)
        self.last_end[partition] = reported
        if done is None:
            log.error("partition %s/%d was recreated (its end offset went back from %d to %d): the broker lost its log "
                      "(a restarted in-memory broker); this scorer did not hold it, its owner reports what was lost. "
                      "Rejoining.", self.topic, partition, last_end, reported)
            return True
        self.lost_count += max(0, last_end - done)
        log.error("partition %s/%d was recreated (its end offset went back from %d to %d): the broker lost its log "
                  "(a restarted in-memory broker). %d listing(s) at offsets %d-%d, as last measured, were on the broker "
                  "and not valued by this scorer: lost (more may have arrived after that measurement; a batch in "
                  "flight may still be stored); %d lost in all since this scorer started. Rejoining to value the new "
                  "log from its start.", self.topic, partition, last_end, reported, max(0, last_end - done), done,
                  last_end - 1, self.lost_count)
        return True
