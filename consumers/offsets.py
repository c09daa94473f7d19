"""Committing a batch's offsets: a refusal is logged, never fatal.

kafka-python 3.0.12 raises several errors from a commit that meets a rebalance
(kafka/coordinator/consumer.py): RebalanceInProgressError when the consumer knows it is
rebalancing, CommitFailedError when it is out of the group or the broker answered
REBALANCE_IN_PROGRESS / UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION, and those broker errors
themselves from other paths. In every case the partitions' next owner replays from the last
committed offset, and the upserts make the replay harmless.
"""

from __future__ import annotations

import logging

from kafka import OffsetAndMetadata, TopicPartition
from kafka.errors import (CommitFailedError, FencedInstanceIdError, IllegalGenerationError, KafkaError,
                          RebalanceInProgressError, UnknownMemberIdError)

log = logging.getLogger(__name__)

REBALANCE_ERRORS = (CommitFailedError, RebalanceInProgressError, IllegalGenerationError, UnknownMemberIdError,
                    FencedInstanceIdError)


def batch_offsets(records) -> dict[TopicPartition, OffsetAndMetadata]:
    """The offset after each partition's last record in `records`."""
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        partition = TopicPartition(record.topic, record.partition)
        offsets[partition] = max(offsets.get(partition, -1), record.offset + 1)
    return {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()}


def commit(consumer, records) -> bool:
    """Commit the offsets after `records`; False when the commit was refused. A rebalance
    (the new owner replays) or a broker that did not answer in time (the next commit covers
    these offsets; a crash before it replays them) is one log line. Anything else raises."""
    try:
        consumer.commit(batch_offsets(records))
        return True
    except REBALANCE_ERRORS as error:
        log.warning("offset commit refused by a rebalance (%s); the partitions' new owner replays the batch",
                    type(error).__name__)
    except KafkaError as error:
        if not error.retriable:
            raise
        log.warning("offset commit failed (%s: %s); the next commit covers it, a restart before that replays it",
                    type(error).__name__, error)
    return False
