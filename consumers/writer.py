"""The writer stage of the scorer (its own thread): a batch into the database, then its
valuations and dead letters onto their topics. The database and the broker are retried with
backoff while they are down; what a single message holds never stops the batch."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from kafka.errors import KafkaError, MessageSizeTooLargeError
from pydantic_core import to_json
from sqlalchemy.exc import InterfaceError, OperationalError

from autovalue.settings import Settings
from autovalue.valuation import valuation_id
from consumers.backoff import retry
from consumers.messages import Accepted, DeadLetter
from consumers.sink import ValuationStore

log = logging.getLogger(__name__)


class NotAcknowledged(Exception):
    """Some messages of a batch were not acknowledged by the broker (retriable errors)."""

    def __init__(self, failed: list[tuple], of: int, cause: BaseException) -> None:
        super().__init__(f"{len(failed)} of {of} messages: {cause}")
        self.failed = failed


class BatchWriter:
    def __init__(self, settings: Settings, store: ValuationStore, producer, still_wanted: Callable[[], bool]) -> None:
        self.settings, self.store, self.producer, self.still_wanted = settings, store, producer, still_wanted

    def write(self, accepted: list[Accepted], rows: list[dict], dead: list[DeadLetter]) -> tuple[int, int]:
        """Returns how many valuations and dead letters were stored and sent. Raises Abandoned
        when stopping while the database or the broker is down."""
        # Down, or locked by another scorer: wait and keep the batch. A row the database refuses
        # for its content comes back as a dead letter.
        refused_rows, dead = retry(lambda: self.store.write(accepted, rows, dead), (OperationalError, InterfaceError),
                                   self.still_wanted, self.settings.service_backoff_max_s, "database write failed")
        refused_rows = set(refused_rows)
        if refused_rows:
            accepted = [a for i, a in enumerate(accepted) if i not in refused_rows]
            rows = [v for i, v in enumerate(rows) if i not in refused_rows]
        topic = self.settings.topic_valuations
        messages = [(topic, v["listing_id"], self._valuation_message(a, v), p)
                    for a, v, p in zip(accepted, rows, self._valuation_partitions(accepted))]
        messages += [(self.settings.topic_dead_letters, d.listing_id, d, None) for d in dead]
        pending = messages

        def attempt() -> None:  # only what was not acknowledged is sent again (consumers dedupe by valuation_id)
            nonlocal pending
            try:
                self._send(pending)
            except NotAcknowledged as error:
                pending = error.failed
                raise

        retry(attempt, (NotAcknowledged,), self.still_wanted, self.settings.service_backoff_max_s,
              "producing to Kafka failed")
        return len(rows), len(dead)

    def _send(self, messages: list[tuple]) -> None:
        """Send and flush. Retriable failures raise NotAcknowledged with the messages to send
        again; an error no retry can fix raises as it is (the batch is then not committed)."""
        try:
            sent = [(m, self._send_one(*m)) for m in messages]
        except KafkaError as error:  # e.g. no metadata within max_block_ms: the broker is down
            if not error.retriable:
                raise
            raise NotAcknowledged(messages, len(messages), error) from error
        self.producer.flush()
        # flush() also returns when sends failed: a failed one must not be committed past.
        failed = [(m, future.exception) for m, future in sent if future.failed()]
        fatal = next((error for _, error in failed if not getattr(error, "retriable", False)), None)
        if fatal is not None:
            raise fatal
        if failed:
            raise NotAcknowledged([m for m, _ in failed], len(messages), failed[0][1])

    @staticmethod
    def _valuation_message(accepted: Accepted, valuation: dict) -> tuple[bytes, str]:
        """The valuation as JSON with its valuation_id: a replay sends the same id again, by
        which a consumer of the topic deduplicates (also in the header, without parsing)."""
        listing = accepted.listing
        valuation["valuation_id"] = valuation_id(listing.listing_id, listing.listed_at, valuation["model_version"])
        return to_json(valuation), valuation["valuation_id"]

    def _send_one(self, topic: str, key, value, partition):
        if isinstance(value, tuple):  # a valuation and its id
            return self.producer.send(topic, key=key, value=value[0], partition=partition,
                                      headers=[("valuation_id", value[1].encode())])
        try:  # a dead letter
            return self.producer.send(topic, key=key, value=value.message(), partition=partition)
        except MessageSizeTooLargeError:  # cannot happen at the default sizes; never a crash loop
            log.warning("dead letter at %s/%d/%d too large to produce; sent without its payload",
                        value.topic, value.partition, value.offset)
            return self.producer.send(topic, key=key, value=replace(value, payload="").message(), partition=partition)

    def _valuation_partitions(self, accepted: list[Accepted]) -> list[int | None]:
        """A listing keyed by its listing_id (the simulator's, and any keyed producer's) sits in
        the partition the default partitioner picks for that key: when both topics have as many
        partitions, its valuation goes to the same partition number without hashing every key
        in Python (a noticeable share of the scorer's time per listing). Otherwise (None)
        the key decides."""
        if not accepted:
            return []
        # The producer, not the consumer: this runs in the writer thread (a consumer is not thread-safe).
        listings = self.producer.partitions_for(self.settings.topic_listings)
        valuations = self.producer.partitions_for(self.settings.topic_valuations)
        if not (listings and valuations and len(listings) == len(valuations)):
            return [None] * len(accepted)
        return [a.partition if a.key == a.listing.listing_id.encode() else None for a in accepted]

