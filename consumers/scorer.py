"""`autovalue score`: value every listing on the topic, exactly once in the database.

Per micro-batch: poll, validate, value through the service, write the database, produce
valuations and dead letters, and only then commit its offsets. Market statistics are pushed
by the market feed (consumers/market_feed.py), in a process of its own.
A crash anywhere before the commit replays the batch; the upserts make the replay harmless.

Two batches overlap: while a writer thread stores batch N (database, then topics), this thread
polls and values batch N+1 (the service works on the other core meanwhile). Batch N's offsets
are committed, in order and from this thread (a Kafka consumer is not thread-safe), once its
writes are done and before batch N+1 is handed to the writer.
"""

from __future__ import annotations

import json
import logging
import signal
import time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from kafka import OffsetAndMetadata, TopicPartition
from kafka.errors import CommitFailedError
from pydantic_core import to_json

from autovalue.kafka_clients import group_consumer, json_producer
from autovalue.settings import Settings
from consumers.messages import Accepted, DeadLetter, parse_record
from consumers.service_client import ServiceRejected, ValuationClient
from consumers.sink import ValuationStore

log = logging.getLogger(__name__)


@dataclass
class _Written:
    """A batch handed to the writer thread, committed once `done` resolves to True."""

    done: Future
    records: list
    accepted: list[Accepted]
    valued: int
    dead: int


class Scorer:
    def __init__(self, settings: Settings, consumer=None) -> None:
        self.settings = settings
        self.consumer = consumer or group_consumer(settings, settings.topic_listings,
                                                   max_poll_records=settings.scorer_batch_size)
        self.producer = json_producer(settings)
        self.store = ValuationStore(settings.database)
        self.client = ValuationClient(settings)
        self.stopping = False
        self.counts = defaultdict(int)
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scorer-writer")
        self.pending: _Written | None = None

    def install_signal_handlers(self) -> None:
        def stop(signum, frame):
            log.info("signal %s: finishing the current batch, then leaving the group", signum)
            self.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def run(self, idle_exit_s: float | None = None) -> None:
        """Score until stopped (or, with `idle_exit_s`, until nothing arrived for that long)."""
        last_record = time.monotonic()
        announced = False
        try:
            while not self.stopping:
                polled = self.consumer.poll(timeout_ms=self.settings.scorer_batch_ms)
                records = [r for batch in polled.values() for r in batch]
                if self.pending is not None and (not records or self.pending.done.done()):
                    self.finish_pending()  # written: commit now, not only when the next batch comes
                assigned = self.consumer.assignment()
                if assigned and not announced:
                    announced = True
                    log.info("scoring: assigned %d partitions", len(assigned))
                if records or not assigned:  # idle time counts once in the group
                    if records:
                        self.process(records)
                    last_record = time.monotonic()
                elif idle_exit_s is not None and time.monotonic() - last_record > idle_exit_s:
                    break
        finally:
            self.close()

    def process(self, records) -> bool:
        """Value one batch and hand it to the writer; False when abandoned (stopping while the
        service or the database was down)."""
        parsed = [parse_record(r) for r in records]
        accepted = [p for p in parsed if isinstance(p, Accepted)]
        dead = [p for p in parsed if isinstance(p, DeadLetter)]
        valued, rejected = self._valuate(accepted)
        if valued is None:
            return False
        dead += rejected
        accepted = [a for a in accepted if a.listing.listing_id in valued]
        rows = [valued[a.listing.listing_id] for a in accepted]
        if not self.finish_pending():
            return False
        done = self.writer.submit(self._write, accepted, rows, dead)
        self.pending = _Written(done, records, accepted, len(rows), len(dead))
        return True

    def _write(self, accepted: list[Accepted], rows: list[dict], dead: list[DeadLetter]) -> bool:
        """In the writer thread: the database (retried while it is down), then the topics."""
        delay = 0.1
        while True:
            try:
                self.store.write(accepted, rows, dead)
                break
            except Exception as error:  # the database is down or locked: wait, keep the batch
                log.warning("database write failed (%s); retrying in %.1f s", error, delay)
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline:
                if self.stopping:
                    return False
                time.sleep(0.05)
            delay = min(delay * 2, self.settings.service_backoff_max_s)
        sent = [self.producer.send(self.settings.topic_valuations, key=v["listing_id"], value=to_json(v))
                for v in rows]
        sent += [self.producer.send(self.settings.topic_dead_letters, key=letter.listing_id, value=letter.message())
                 for letter in dead]
        self.producer.flush()
        # flush() also returns when sends failed: a failed one must stop the commit (a crash
        # replays the batch) rather than leave a listing without its message.
        failed = next((future.exception for future in sent if future.failed()), None)
        if failed is not None:
            raise failed
        return True

    def finish_pending(self) -> bool:
        """Wait for the batch in the writer, then commit it.
        False when it was abandoned (its offsets stay uncommitted: it will be replayed)."""
        pending, self.pending = self.pending, None
        if pending is None:
            return True
        while True:
            try:
                written = pending.done.result(timeout=1.0)
                break
            except FutureTimeout:
                self._keep_alive()  # a long database outage must not cost the group membership
        if not written:
            return False
        try:
            self._commit(pending.records)
        except CommitFailedError as error:
            # The group rebalanced meanwhile: the partitions' new owner replays the batch, and the
            # upserts keep the database at one row per listing.
            log.warning("commit after a rebalance failed (%s); the batch will be replayed", error)
        self.counts["valued"] += pending.valued
        self.counts["dead_lettered"] += pending.dead
        return True

    def _valuate(self, accepted: list[Accepted]) -> tuple[dict | None, list[DeadLetter]]:
        if not accepted:
            return {}, []
        listings = [a.listing for a in accepted]
        try:
            result = self.client.valuate(listings, self._keep_alive)
        except ServiceRejected:
            # The service refused something our schema let through: find which, one by one.
            return self._valuate_one_by_one(accepted)
        if result is None:
            return None, []
        return {v["listing_id"]: v for v in result}, []

    def _valuate_one_by_one(self, accepted: list[Accepted]) -> tuple[dict | None, list[DeadLetter]]:
        valued, dead = {}, []
        for item in accepted:
            try:
                result = self.client.valuate([item.listing], self._keep_alive)
            except ServiceRejected as error:
                dead.append(DeadLetter(self.settings.topic_listings, item.partition, item.offset,
                                       f"rejected by the valuation service: {error.detail}",
                                       item.listing.model_dump_json(), item.listing.listing_id))
                continue
            if result is None:
                return None, []
            valued[result[0]["listing_id"]] = result[0]
        return valued, dead

    def _keep_alive(self) -> bool:
        """Stay in the group while waiting: poll with every partition paused. A rebalance inside
        that poll can revoke partitions and assign new, unpaused ones: records they return are
        put back (seek), and only what is still assigned is resumed."""
        self.consumer.pause(*self.consumer.assignment())
        for partition, records in self.consumer.poll(timeout_ms=0).items():
            self.consumer.seek(partition, records[0].offset)
        self.consumer.resume(*self.consumer.assignment())
        return not self.stopping

    def _commit(self, records) -> None:
        offsets = {}
        for record in records:
            partition = TopicPartition(record.topic, record.partition)
            offsets[partition] = max(offsets.get(partition, -1), record.offset + 1)
        self.consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()})

    def close(self) -> None:
        try:
            self.finish_pending()
        finally:
            self.writer.shutdown()
            self.consumer.close()
            self.producer.close()
            self.client.close()
        log.info("scorer stopped: %s", json.dumps(dict(self.counts)))
