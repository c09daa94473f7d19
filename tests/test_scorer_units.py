"""The scorer's rules without a broker: commits refused by a rebalance, dead-letter sizing,
the listing date of a replayed record, valuation ids, the liveness guard's decisions."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from kafka.errors import (CommitFailedError, FencedInstanceIdError, IllegalGenerationError, KafkaTimeoutError,
                          RebalanceInProgressError, TopicAuthorizationFailedError, UnknownMemberIdError)

from consumers.offsets import batch_offsets, commit


def record(partition: int, offset: int, value: bytes = b"{}", timestamp: int = 1_770_000_000_000, key=None):
    return SimpleNamespace(topic="listings", partition=partition, offset=offset, value=value, key=key,
                           timestamp=timestamp)


class RefusingConsumer:
    def __init__(self, error: Exception | None) -> None:
        self.error, self.committed = error, None

    def commit(self, offsets) -> None:
        if self.error is not None:
            raise self.error
        self.committed = offsets


def test_batch_offsets_are_one_past_each_partitions_last_record():
    offsets = batch_offsets([record(0, 5), record(1, 7), record(0, 9), record(0, 6)])
    assert {tp.partition: o.offset for tp, o in offsets.items()} == {0: 10, 1: 8}


@pytest.mark.parametrize("error", [
    RebalanceInProgressError(), CommitFailedError("kicked out"), IllegalGenerationError(), UnknownMemberIdError(),
    FencedInstanceIdError(), KafkaTimeoutError("no answer")])
def test_a_commit_refused_by_a_rebalance_or_a_slow_broker_is_one_line(error, caplog):
    with caplog.at_level(logging.WARNING, logger="consumers.offsets"):
        assert commit(RefusingConsumer(error), [record(0, 1)]) is False
    assert len(caplog.records) == 1 and type(error).__name__ in caplog.records[0].getMessage()


def test_any_other_commit_error_is_not_hidden():
    with pytest.raises(TopicAuthorizationFailedError):
        commit(RefusingConsumer(TopicAuthorizationFailedError()), [record(0, 1)])
    consumer = RefusingConsumer(None)
    assert commit(consumer, [record(2, 41)]) is True and list(consumer.committed.values())[0].offset == 42
