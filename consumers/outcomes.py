"""`autovalue outcomes`: what became of each listing, joined to the valuation the user saw.

Per poll batch: validate each outcome message, then one database transaction (the outcomes,
the dead letters, and the join of every outcome still waiting for its valuation), then the
dead letters to the dead-letter topic, and only then the offsets. A crash before the commit
replays the batch; the upserts make the replay harmless. The database is retried with backoff
while this consumer stays in its group (its own group on the outcomes topic).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from datetime import datetime, timezone

from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError

from consumers.kafka_clients import group_consumer, json_producer
from autovalue.outcome import Outcome
from autovalue.settings import Settings
from consumers.backoff import Abandoned, retry
from consumers.messages import DeadLetter, Limits, dead_letter
from consumers.offsets import commit
from consumers.outcome_store import OutcomeStore
from consumers.stopping import stop_on_signals

log = logging.getLogger(__name__)
KEEP_ALIVE_S = 1.0
# SQLite reports a statement that can never succeed as an OperationalError too, like a locked or
# missing file: these are not worth waiting for.
NEVER_SUCCEEDS = ("no such table", "no such column", "has no column named", "syntax error")


def _transient(error: BaseException) -> bool:
    return not any(words in str(error) for words in NEVER_SUCCEEDS)


def _describe(error: ValidationError) -> str:
    """`field: message; ...` naming every bad field of an outcome."""
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{field}: {message}" if field else message)
    return "; ".join(parts)


def parse_outcome(record, limits: Limits) -> Outcome | DeadLetter:
    raw = record.value or b""
    try:
        return Outcome.model_validate_json(raw)
    except ValidationError:
        pass  # the slow path words the reason
    produced_at = datetime.fromtimestamp(record.timestamp / 1000, tz=timezone.utc)

    def dead(reason: str, listing_id: str | None = None) -> DeadLetter:
        # The scorer's dead letter: cut to fit, hashed, keyed as every dead letter is.
        return dead_letter(record.topic, record.partition, record.offset, reason, raw, limits, listing_id,
                           produced_at)

    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as error:
        return dead(f"not JSON: {error}")
    if not isinstance(data, dict):
        return dead(f"not a JSON object: got {type(data).__name__}")
    listing_id = data.get("listing_id") if isinstance(data.get("listing_id"), str) else None
    try:
        return Outcome.model_validate(data)
    except ValidationError as error:
        return dead(f"invalid outcome: {_describe(error)}", listing_id)


class OutcomeConsumer:
    def __init__(self, settings: Settings, consumer=None) -> None:
        self.settings = settings
        self.limits = Limits.of(settings)
        self.consumer = consumer if consumer is not None else group_consumer(
            settings, settings.topic_outcomes, group_id=settings.outcomes_consumer_group,
            max_poll_records=settings.outcomes_batch_size)
        self.producer = json_producer(settings)
        self.store: OutcomeStore | None = None
        self.stopping = False
        self.counts: Counter = Counter(stored=0, joined=0, dead_lettered=0)
        self._kept_alive = time.monotonic()

    def install_signal_handlers(self) -> None:
        stop_on_signals(self)

    def run(self, idle_exit_s: float | None = None) -> None:
        """Consume until stopped (or, with `idle_exit_s`, until nothing arrived for that long).
        Stopping while the database is down leaves the batch uncommitted: it is replayed."""
        try:
            self.store = self._retry(lambda: OutcomeStore(self.settings.database), "database unreachable",
                                     in_group=False)
            self._loop(idle_exit_s)
        except Abandoned:
            log.warning("stopped while the database was down: the last batch will be replayed")
        finally:
            self.close()

    def _loop(self, idle_exit_s: float | None) -> None:
        interval = self.settings.outcomes_join_interval_s
        last_record = next_join = time.monotonic()
        announced = False
        while not self.stopping:
            polled = self.consumer.poll(timeout_ms=self.settings.outcomes_poll_ms)
            records = [r for batch in polled.values() for r in batch]
            if records:
                self.process(records)
                last_record = time.monotonic()
                next_join = last_record + interval
            elif time.monotonic() >= next_join:  # valuations stored after their outcome
                self.counts["joined"] += self._retry(self.store.join_waiting, "database join failed")
                next_join = time.monotonic() + interval
            assigned = self.consumer.assignment()
            if assigned and not announced:
                announced = True
                log.info("outcomes: assigned %d partitions", len(assigned))
            if not assigned:
                last_record = time.monotonic()
            elif idle_exit_s is not None and time.monotonic() - last_record > idle_exit_s:
                break

    def process(self, records) -> None:
        parsed = [parse_outcome(r, self.limits) for r in records]
        received = [p for p in parsed if isinstance(p, Outcome)]
        dead = [p for p in parsed if isinstance(p, DeadLetter)]
        joined = self._retry(lambda: self.store.write(received, dead), "database write failed")
        sent = [self.producer.send(self.settings.topic_dead_letters, key=d.listing_id, value=d.message())
                for d in dead]
        self.producer.flush()
        failed = next((future.exception for future in sent if future.failed()), None)
        if failed is not None:  # never commit past a dead letter that did not go out
            raise failed
        self._commit(records)
        self.counts["stored"] += len(received)
        self.counts["joined"] += joined
        self.counts["dead_lettered"] += len(dead)

    def _retry(self, action, what: str, in_group: bool = True):
        wanted = self._still_wanted if in_group else (lambda: not self.stopping)
        return retry(action, (OperationalError, InterfaceError), wanted, self.settings.service_backoff_max_s, what,
                     _transient)

    def _still_wanted(self) -> bool:
        """Asked between database retries: stay in the group meanwhile, stop once stopping."""
        if time.monotonic() - self._kept_alive >= KEEP_ALIVE_S:
            self._kept_alive = time.monotonic()
            self._keep_alive()
        return not self.stopping

    def _keep_alive(self) -> None:
        """Poll with every partition paused; records a rebalance hands over are put back (seek)."""
        self.consumer.pause(*self.consumer.assignment())
        for partition, records in self.consumer.poll(timeout_ms=0).items():
            self.consumer.seek(partition, records[0].offset)
        self.consumer.resume(*self.consumer.assignment())

    def _commit(self, records) -> None:
        # A refusal by a rebalance is one log line: the new owner replays, the upserts keep one row.
        commit(self.consumer, records)

    def close(self) -> None:
        try:
            self.consumer.close()
            self.producer.close()
        finally:
            if self.store is not None:
                self.store.close()
        log.info("outcomes stopped: %s", json.dumps(dict(self.counts)))
