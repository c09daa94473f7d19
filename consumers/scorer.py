"""`autovalue score`: value every listing on the topic, exactly once in the database.

Per micro-batch: poll, validate, value through the service, write the database, produce
valuations and dead letters, and only then commit its offsets. Market statistics are pushed
by the market feed (consumers/market_feed.py), in a process of its own.
A crash anywhere before the commit replays the batch; the upserts make the replay harmless.

Three batches overlap, each stage in its own thread (consumers/valuer.py, consumers/writer.py):
while the writer stores batch N (database, then topics) and the valuer waits for the service to
value batch N+1, this thread polls and validates batch N+2. Each batch's offsets are committed
in order and from this thread (a Kafka consumer is not thread-safe), once its writes are done
and before the next batch goes to the writer. While this thread waits for a stage it keeps the
consumer in its group. The liveness guard (consumers/liveness.py) watches it from this thread.
"""

from __future__ import annotations

import gc
import json
import logging
import time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

from kafka.errors import KafkaError

from consumers.kafka_clients import group_consumer, json_producer
from autovalue.settings import Settings
from consumers.backoff import Abandoned
from consumers.heartbeat import Heartbeat, members_holding_partitions
from consumers.liveness import SEEK, Liveness
from consumers.messages import Accepted, DeadLetter, Limits, market_listing, parse_record, refused
from consumers.offsets import batch_offsets, commit
from consumers.service_client import ValuationClient
from consumers.sink import ValuationStore
from consumers.stopping import stop_on_signals
from consumers.valuer import BatchValuer
from consumers.writer import BatchWriter

log = logging.getLogger(__name__)


@dataclass
class _Batch:
    records: list  # committed once the batch is written
    accepted: list[Accepted]
    dead: list[DeadLetter]
    valued: Future | None = None  # valuer thread: (valuations by id, rejected) or (None, []) when abandoned
    written: Future | None = None  # writer thread: (valuations, dead letters) stored and sent, None when abandoned
    rows: list[dict] = field(default_factory=list)


def listings_consumer(settings: Settings, fetch_wait_ms: int | None = None):
    """The scorer's consumer-group member on the listings topic."""
    return group_consumer(settings, settings.topic_listings, max_poll_records=settings.scorer_batch,
                          fetch_max_wait_ms=fetch_wait_ms or settings.kafka_fetch_max_wait_ms)


class Scorer:
    def __init__(self, settings: Settings, consumer=None) -> None:
        self.settings = settings
        self.consumer = consumer if consumer is not None else listings_consumer(settings)
        self.producer = json_producer(settings, linger_ms=settings.scorer_producer_linger_ms,
                                      batch_size=settings.scorer_producer_batch_bytes)
        self.limits = Limits.of(settings)
        self.listing_type = market_listing(settings)
        self.store = ValuationStore(settings.database, self.limits)
        self.client = ValuationClient(settings, self.listing_type)
        self.batch_valuer = BatchValuer(self.client, self.limits, self._still_wanted)
        self.batch_writer = BatchWriter(settings, self.store, self.producer, self._still_wanted)
        self.stopping = False
        self.halted = False  # a batch was abandoned or a stage raised: nothing after it may be committed
        self.counts = defaultdict(int)
        self.valuer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scorer-valuer")
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scorer-writer")
        self.valuing: _Batch | None = None
        self.writing: _Batch | None = None
        self.heartbeat = Heartbeat(self.store.engine, settings.consumer_group, settings.scorer_lag_interval_s,
                                   lambda: self.liveness.status())
        self.liveness = Liveness(settings, lambda: members_holding_partitions(
            self.store.engine, settings.consumer_group, 3 * settings.scorer_lag_interval_s, self.heartbeat.id))
        # What is loaded by now lives as long as the scorer: out of the collector's scans. Here,
        # not in run(): a full collection of this heap is slow, a start-up cost.
        gc.collect()
        gc.freeze()

    def install_signal_handlers(self) -> None:
        stop_on_signals(self)

    def run(self, idle_exit_s: float | None = None) -> None:
        """Score until stopped (or, with `idle_exit_s`, until nothing arrived for that long)."""
        last_record = time.monotonic()
        announced = False
        # Young objects collected per batch-sized allocation count rather than every 700.
        thresholds = gc.get_threshold()
        gc.set_threshold(self.settings.scorer_gc_young_threshold, *thresholds[1:])
        self.heartbeat.start()
        try:
            while not self.stopping:
                polled = self.consumer.poll(timeout_ms=self.settings.scorer_batch_ms)
                records = [r for batch in polled.values() for r in batch]
                if records:
                    self.liveness.progressed()
                    if not self.process(records):
                        break
                else:  # nothing new: move what is ready along rather than wait for the next batch
                    if self.valuing is not None and self.valuing.valued.done():
                        self.hand_to_writer()
                if self.writing is not None and self.writing.written.done():
                    self.finish_written()
                assigned = self.consumer.assignment()
                if assigned and not announced:
                    announced = True
                    log.info("scoring: assigned %d partitions", len(assigned))
                if self.liveness.assignment_changed(self.consumer):
                    self.heartbeat.poke()
                recovery = self.liveness.check(self.consumer)  # raises Stalled when recovering failed
                if recovery is not None and not self.recover(recovery):
                    break
                busy = self.valuing is not None or self.writing is not None
                if records or not assigned or busy:  # idle time counts once everything is written
                    last_record = time.monotonic()
                elif idle_exit_s is not None and time.monotonic() - last_record > idle_exit_s:
                    break
        except BaseException:
            self.halted = True
            raise
        finally:
            try:
                self.close()
            finally:
                gc.set_threshold(*thresholds)

    def process(self, records) -> bool:
        """Validate a batch and send it to be valued; the batch valued before it goes to the
        writer meanwhile. False when that one was abandoned (stopping while the service or the
        database was down)."""
        parsed = [parse_record(r, self.limits, self.listing_type) for r in records]
        batch = _Batch(records, [p for p in parsed if isinstance(p, Accepted)],
                       [p for p in parsed if isinstance(p, DeadLetter)])
        return self.hand_to_writer(then_value=batch)

    def hand_to_writer(self, then_value: _Batch | None = None) -> bool:
        """The batch being valued, once valued, to the writer (after committing the one before);
        `then_value` goes to the valuer as soon as it is free, before the writes are waited for."""
        batch, self.valuing = self.valuing, None
        result = self._wait(batch.valued) if batch is not None else None
        if result is not None and result[0] is None:
            self.halted = True  # abandoned: no later batch may be committed past it
            return False
        if then_value is not None and not self.stopping:  # when stopping it is replayed later
            then_value.valued = self.valuer.submit(self.batch_valuer.valuate, then_value.accepted)
            self.valuing = then_value
        if batch is None:
            return True
        valued, rejected = result
        turned_down = {(d.partition, d.offset) for d in rejected}
        batch.dead += rejected + [  # never silently dropped: a listing the answer left out
            refused(a, "the valuation service answered without a valuation for this listing", self.limits)
            for a in batch.accepted
            if a.listing.listing_id not in valued and (a.partition, a.offset) not in turned_down]
        batch.accepted = [a for a in batch.accepted if a.listing.listing_id in valued]
        batch.rows = [valued[a.listing.listing_id] for a in batch.accepted]
        if not self.finish_written():
            return False
        batch.written = self.writer.submit(self._write, batch.accepted, batch.rows, batch.dead)
        self.writing = batch
        return True

    def _write(self, accepted: list[Accepted], rows: list[dict], dead: list[DeadLetter]) -> tuple[int, int] | None:
        """In the writer thread: the database, then the topics. The counts stored, or None when
        abandoned (stopping while the database or the broker was down)."""
        try:
            return self.batch_writer.write(accepted, rows, dead)
        except Abandoned:
            return None

    def finish_written(self) -> bool:
        """Wait for the batch in the writer, then commit it. False when it was abandoned (its
        offsets stay uncommitted: it will be replayed)."""
        batch, self.writing = self.writing, None
        if batch is None:
            return True
        written = self._wait(batch.written)
        if written is None:
            self.halted = True
            return False
        self._commit(batch.records)  # refused by a rebalance: the partitions' new owner replays it
        self.counts["valued"] += written[0]
        self.counts["dead_lettered"] += written[1]
        return True

    def _wait(self, future: Future):
        """A stage's result; meanwhile this thread keeps the consumer in its group (a long
        service or database outage must not cost the group membership)."""
        while True:
            try:
                result = future.result(timeout=1.0)
                self.liveness.progressed()  # a stage done is progress, however long it waited
                return result
            except FutureTimeout:
                self._keep_alive()
            except BaseException:
                self.halted = True  # the stage failed: nothing after its batch may be committed
                raise

    def recover(self, how: str) -> bool:
        """The liveness guard's recovery, once what is in flight is stored and committed (a
        seek must not be committed past). False when that was abandoned (stopping)."""
        if not self.hand_to_writer() or not self.finish_written():
            return False
        if how == SEEK:
            self.consumer.resume(*self.consumer.paused())
            try:
                for partition in self.consumer.assignment():
                    committed = self.consumer.committed(partition, timeout_ms=5000)
                    if committed is not None:
                        self.consumer.seek(partition, committed)
            except KafkaError as error:  # the guard's next step follows if this did not help
                log.warning("seeking to the committed offsets failed (%s)", error)
        else:  # rejoin: a new member, with the fetch wait the guard chose
            self.consumer.close()
            self.consumer = listings_consumer(self.settings, self.liveness.fetch_wait_ms)
        self.counts["recoveries"] += 1
        return True

    def _still_wanted(self) -> bool:
        """Asked by the valuer thread between retries: stop retrying once stopping."""
        return not self.stopping

    def _keep_alive(self) -> None:
        """Stay in the group while waiting: poll with every partition paused. A rebalance inside
        that poll can revoke partitions and assign new, unpaused ones: records they return are
        put back (seek), and only what is still assigned is resumed."""
        self.consumer.pause(*self.consumer.assignment())
        for partition, records in self.consumer.poll(timeout_ms=0).items():
            self.consumer.seek(partition, records[0].offset)
        self.consumer.resume(*self.consumer.assignment())
        self.liveness.measure(self.consumer)

    def _commit(self, records) -> None:
        if commit(self.consumer, records):
            self.liveness.log_watch.commit_done({tp.partition: o.offset for tp, o in batch_offsets(records).items()})
        else:
            self.counts["commits_refused"] += 1

    def close(self) -> None:
        if self.halted:
            self.stopping = True  # a failure: stages stop retrying, nothing more is valued
        try:
            if not self.halted:  # finish what is in flight: value, write, commit
                self.hand_to_writer()
            self.finish_written()  # the batch in the writer precedes anything abandoned
        finally:
            self.stopping = True  # no stage may retry forever behind the shutdown
            self.valuer.shutdown(cancel_futures=True)
            self.writer.shutdown(cancel_futures=True)
            self.consumer.close()
            self.producer.close()
            self.client.close()
            self.heartbeat.stop("stalled" if self.liveness.state == "stalled" else "stopped")
            self.liveness.close()
            gc.unfreeze()
        log.info("scorer stopped: %s", json.dumps(dict(self.counts)))
