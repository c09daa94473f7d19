"""The scorer's liveness guard: it knows its own lag, sees when it makes no progress although
there is lag, recovers, and when recovery does not help it says what is wrong in one line and
exits non-zero (the supervisor, the demo or compose, starts it again).

Two ways a scorer stalls on the embedded broker (tansu 0.6.0, memory store):
- with partitions: fetches come back empty although the log is far ahead (tansu's scan of a
  deep partition outlasts the fetch wait). Recovery: resume and seek to the committed offsets,
  then rejoin with the fetch wait doubled (up to AUTOVALUE_KAFKA_FETCH_MAX_WAIT_CAP_MS);
- without partitions: a member left during a rebalance and tansu keeps it as the group's leader,
  so no member ever gets partitions. Recovery: rejoin; then exit, naming the fix.
A partition whose end offset goes back was recreated by a restarted in-memory broker: what
was lost is logged (consumers/log_watch.py) and the scorer rejoins as a new member.
Progress is a record polled or a batch stored. Lag and the group's committed offsets are asked
through the consumer's public API every AUTOVALUE_SCORER_LAG_INTERVAL_S.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone

from kafka import TopicPartition
from kafka.errors import KafkaError

from consumers.kafka_clients import admin
from autovalue.settings import Settings
from consumers.log_watch import LogWatch

log = logging.getLogger(__name__)

SEEK, REJOIN = "seek", "rejoin"
ASK_TIMEOUT_MS = 5000


class Stalled(Exception):
    """Recovery did not help: exit non-zero so that the supervisor restarts the scorer."""


class Liveness:
    def __init__(self, settings: Settings, others_holding: Callable[[], list[str]] = list,
                 clock: Callable[[], float] = time.monotonic, group_committed: Callable[[list], dict] | None = None,
                 ) -> None:
        self.settings, self.others_holding, self.clock = settings, others_holding, clock
        # Asked through an admin client: the consumer's own committed() during a join made the
        # join start over, on tansu, every time (the member never got partitions).
        self.group_committed_offsets = group_committed or self._admin_committed
        self.admin = None
        self.log_watch = LogWatch(settings.topic_listings)  # the scorer tells it what it committed
        self.recreated = False
        now = clock()
        self.last_progress = self.window_start = self.unassigned_since = now
        self.last_progress_at = datetime.now(timezone.utc)
        self.next_measure = now
        self.recoveries = 0  # in a row, without progress between them
        self.lag: int | None = None
        self.group_committed: int | None = None
        self.partitions: list[int] = []
        self.fetch_wait_ms = settings.kafka_fetch_max_wait_ms
        self.state = "scoring"

    def progressed(self) -> None:
        self.last_progress = self.clock()
        self.last_progress_at = datetime.now(timezone.utc)
        if self.recoveries:
            log.info("progress again after %d recovery step(s)", self.recoveries)
            self.recoveries, self.state = 0, "scoring"

    def status(self) -> dict:
        return {"partitions": list(self.partitions), "lag": self.lag, "fetch_wait_ms": self.fetch_wait_ms,
                "state": self.state, "last_progress_at": self.last_progress_at}

    def assignment_changed(self, consumer) -> bool:
        """Notes the consumer's partitions; True when they changed (the heartbeat is written now)."""
        partitions = sorted(tp.partition for tp in consumer.assignment())
        changed, self.partitions = partitions != self.partitions, partitions
        if changed and partitions:
            self.window_start = self.clock()  # a new assignment starts from its committed offsets
        elif changed:
            self.unassigned_since = self.clock()
        return changed

    def measure(self, consumer) -> bool:
        """The lag (and the log watch), every AUTOVALUE_SCORER_LAG_INTERVAL_S; also while a stage
        waits for the service or the database, so the heartbeat's lag keeps growing. Every
        partition's end is watched, assigned or not: after a broker restart this member may hold
        none for minutes. True when measured now."""
        now = self.clock()
        if now < self.next_measure:
            return False
        self.next_measure = now + self.settings.scorer_lag_interval_s
        assigned = set(consumer.assignment())
        ends = self._ends(consumer)
        for tp, reported in (ends or {}).items():
            end = max(reported, consumer.highwater(tp) or 0) if tp in assigned else reported
            if self.log_watch.measured(tp.partition, reported, end):
                self.recreated = True
        if assigned:
            self.lag = self._lag(consumer, assigned, ends)
        return True

    def check(self, consumer) -> str | None:
        """From the polling thread on every loop: None, or the recovery to make (SEEK, REJOIN).
        Raises Stalled when two recoveries in a row did not help."""
        if not self.measure(consumer):
            return None
        now = self.clock()
        if self.recreated:  # this member's positions and group belong to a log that is gone
            self.recreated = False
            return REJOIN
        if consumer.assignment():
            if self.lag and now - max(self.last_progress, self.window_start) > self.settings.scorer_stall_s:
                return self._recover_stall(now)
            return None
        group_lag = self._group_lag(consumer)
        if group_lag is None or not group_lag:
            self.unassigned_since = now
            return None
        # A join alone may take about half the session timeout on tansu: never counted as a stall.
        window = self.settings.scorer_stall_s + self.settings.kafka_session_timeout_ms / 1000
        if now - self.unassigned_since > window and not self.others_holding():
            return self._recover_stuck_group(now, group_lag)
        return None

    def _recover_stall(self, now: float) -> str:
        stalled_s = now - self.last_progress
        self.recoveries += 1
        self.window_start, self.state = now, "recovering"
        if self.recoveries == 1:
            log.warning("no progress for %.0f s with lag %d on partitions %s (fetch wait %d ms): resuming and "
                        "seeking to the committed offsets", stalled_s, self.lag, self.partitions, self.fetch_wait_ms)
            return SEEK
        if self.recoveries == 2:
            waited = self.fetch_wait_ms
            self.fetch_wait_ms = min(2 * waited, max(waited, self.settings.kafka_fetch_max_wait_cap_ms))
            log.warning("no progress for %.0f s with lag %d, also after seeking: rejoining the group with a fetch wait "
                        "of %d ms (tansu answers fetches empty once its scan of a deep partition outlasts the wait)",
                        stalled_s, self.lag, self.fetch_wait_ms)
            return REJOIN
        self.state = "stalled"
        raise Stalled(f"no progress for {stalled_s:.0f} s with lag {self.lag} on partitions {self.partitions}, "
                      f"also after seeking and rejoining (fetch wait {self.fetch_wait_ms} ms): exiting so that the "
                      "supervisor starts the scorer again")

    def _recover_stuck_group(self, now: float, group_lag: int) -> str:
        waited_s = now - self.unassigned_since
        self.recoveries += 1
        self.unassigned_since, self.state = now, "recovering"
        group = self.settings.consumer_group
        if self.recoveries == 1:
            log.warning("no partitions for %.0f s while group %s has lag %d, its offsets do not move and no member "
                        "holds a partition: rejoining", waited_s, group, group_lag)
            return REJOIN
        self.state = "stalled"
        raise Stalled(f"group {group} has lag {group_lag} but no member got partitions for {waited_s:.0f} s, also "
                      "after rejoining: the broker is stuck in a rebalance (tansu keeps a member that left during "
                      "one as the group's leader); restart the broker, or point the scorers at a new "
                      "AUTOVALUE_CONSUMER_GROUP; exiting")

    def _ends(self, consumer) -> dict | None:
        """The end offset of every partition of the topic; None when the broker does not answer."""
        topic = self.settings.topic_listings
        try:
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
            return consumer.end_offsets(partitions, timeout_ms=ASK_TIMEOUT_MS) if partitions else None
        except (KafkaError, KeyError, TypeError):
            return None

    def _lag(self, consumer, assigned: set, ends: dict | None) -> int | None:
        """End offsets minus this consumer's positions; None when the broker does not answer.
        tansu reports the last batch's start as the end offset: the last fetch's high watermark,
        when there was one, is the better end."""
        if ends is None:
            return None
        try:
            return sum(max(0, max(ends[tp], consumer.highwater(tp) or 0) - consumer.position(tp, timeout_ms=ASK_TIMEOUT_MS))
                       for tp in assigned)
        except (KafkaError, KeyError, TypeError):
            return None

    def _group_lag(self, consumer) -> int | None:
        """The group's lag on the topic (end minus committed offsets); resets the wait for
        partitions whenever the group's committed offsets moved (another member works)."""
        topic = self.settings.topic_listings
        try:
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
            if not partitions:
                return None
            ends = consumer.end_offsets(partitions, timeout_ms=ASK_TIMEOUT_MS)
            committed = self.group_committed_offsets(partitions)
        except (KafkaError, KeyError, TypeError):
            return None
        total = sum(committed.values())
        if total != self.group_committed:
            self.group_committed, self.unassigned_since = total, self.clock()
        return sum(max(0, ends[tp] - committed[tp]) for tp in partitions)

    def _admin_committed(self, partitions: list) -> dict:
        if self.admin is None:
            self.admin = admin(self.settings, ASK_TIMEOUT_MS)
        group = self.settings.consumer_group
        found = self.admin.list_group_offsets({group: partitions}).get(group, {})
        return {tp: max(0, found[tp].offset) if tp in found else 0 for tp in partitions}

    def close(self) -> None:
        if self.admin is not None:
            self.admin.close()
