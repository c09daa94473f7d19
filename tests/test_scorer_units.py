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


def test_a_dead_letter_of_any_size_fits_a_produce_request():
    import hashlib
    import json

    from consumers.messages import Limits, parse_record

    raw = b'{"listing_id": "' + b"\xff" * 200_000 + b'"}'  # each bad byte: \ufffd, 6 bytes as JSON
    letter = parse_record(record(0, 3, raw), Limits(listing_bytes=10**7, payload_bytes=16_384))
    assert letter.reason.startswith("not JSON")
    assert letter.payload_bytes == len(raw) and letter.payload_sha256 == hashlib.sha256(raw).hexdigest()
    assert letter.payload.endswith(f"...[cut: 16384 of {len(raw)} bytes kept]")
    assert len(json.dumps(letter.message()).encode()) < 120_000  # the producer's limit is 1 MiB


def test_a_dead_letter_fits_its_table_columns_whatever_the_record_held():
    import json

    from consumers.messages import LISTING_ID_CHARS, Limits, parse_record

    raw = json.dumps({"listing_id": "x" * 5000, "brand": "\x00" * 10}).encode()
    letter = parse_record(record(0, 3, raw), Limits(listing_bytes=10**7, payload_bytes=16_384))
    assert len(letter.listing_id) == LISTING_ID_CHARS
    assert "\x00" not in letter.payload + letter.reason + letter.listing_id


def test_a_record_nobody_foresaw_is_a_dead_letter_not_a_crash():
    from consumers.messages import DeadLetter, Limits, parse_record

    letter = parse_record(record(1, 9, value=42), Limits(listing_bytes=10**7, payload_bytes=100))  # not bytes at all
    assert isinstance(letter, DeadLetter) and letter.reason.startswith("could not be read: ")


def test_a_message_over_the_listing_limit_is_refused_in_the_services_words():
    from autovalue.schema import too_large
    from autovalue.settings import Settings
    from consumers.messages import Limits, parse_record

    settings = Settings()
    assert settings.listing_max_bytes * settings.max_batch_size <= settings.service_max_body_bytes
    limits = Limits.of(settings)
    padded = b'{"listing_id": "a", "notes": "' + b"x" * settings.listing_max_bytes + b'"}'
    assert parse_record(record(0, 1, padded), limits).reason == too_large(settings.listing_max_bytes)


def test_a_listing_without_a_date_takes_its_records_time_so_a_replay_is_the_same_row():
    import json
    from datetime import datetime, timezone

    from consumers.messages import Limits, parse_record

    raw = json.dumps({"listing_id": "no-date", "brand": "Toyota", "model": "Avanza", "year": 2020,
                      "mileage_km": 5e4}).encode()
    first, replay = (parse_record(record(0, 3, raw, timestamp=1_770_000_000_123), Limits(4000, 100)) for _ in "ab")
    assert first.listing.listed_at == replay.listing.listed_at == datetime.fromtimestamp(1_770_000_000.123, timezone.utc)
    dated = parse_record(record(0, 3, json.dumps({**json.loads(raw), "listed_at": "2026-01-02T03:04:05Z"}).encode()),
                         Limits(4000, 100))
    assert dated.listing.listed_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)  # a given date stays


def test_a_valuation_id_names_the_listing_version_and_the_model_version():
    from datetime import datetime, timedelta, timezone

    from autovalue.valuation import valuation_id

    at = datetime(2026, 5, 1, 10, tzinfo=timezone.utc)
    same_moment = at.astimezone(timezone(timedelta(hours=7)))
    assert valuation_id("a1", at, "v1") == valuation_id("a1", same_moment, "v1") == valuation_id("a1", at, "v1")
    assert len({valuation_id("a1", at, "v1"), valuation_id("a1", at, "v2"), valuation_id("a2", at, "v1"),
                valuation_id("a1", at + timedelta(microseconds=1), "v1")}) == 4


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class LaggingConsumer:
    """Three partitions, each 100 records behind; the group's committed offsets as given."""

    def __init__(self, assigned: bool = True, committed: int = 0) -> None:
        from kafka import TopicPartition

        self.partitions = [TopicPartition("listings", p) for p in range(3)]
        self.assigned, self.committed_offset = assigned, committed

    def assignment(self):
        return set(self.partitions) if self.assigned else set()

    def partitions_for_topic(self, topic):
        return {0, 1, 2}

    def end_offsets(self, partitions, timeout_ms=None):
        return {tp: 200 for tp in partitions}

    def position(self, tp, timeout_ms=None):
        return 100

    def highwater(self, tp):
        return None



def guard(others=lambda: [], consumer=None):
    from autovalue.settings import Settings
    from consumers.liveness import Liveness

    clock = FakeClock()
    settings = Settings(scorer_stall_s=30, scorer_lag_interval_s=5, kafka_fetch_max_wait_ms=50,
                        kafka_fetch_max_wait_cap_ms=150)
    committed = (lambda parts: {tp: consumer.committed_offset for tp in parts}) if consumer else None
    return Liveness(settings, others, clock, committed), clock


def run_for(liveness, clock, consumer, seconds: float) -> list:
    actions = []
    for _ in range(int(seconds)):
        clock.now += 1
        liveness.assignment_changed(consumer)
        if (action := liveness.check(consumer)) is not None:
            actions.append(action)
    return actions


def test_no_progress_with_lag_seeks_then_rejoins_with_a_longer_fetch_wait_then_gives_up(caplog):
    from consumers.liveness import REJOIN, SEEK, Stalled

    liveness, clock = guard()
    consumer = LaggingConsumer()
    assert run_for(liveness, clock, consumer, 29) == [] and liveness.lag == 300
    assert run_for(liveness, clock, consumer, 7) == [SEEK]
    assert run_for(liveness, clock, consumer, 35) == [REJOIN] and liveness.fetch_wait_ms == 100
    liveness.progressed()  # the rejoin helped: the ladder starts again, the longer wait stays
    assert run_for(liveness, clock, consumer, 36) == [SEEK]
    assert run_for(liveness, clock, consumer, 35) == [REJOIN] and liveness.fetch_wait_ms == 150  # the cap
    with pytest.raises(Stalled, match="no progress for .* with lag 300"):
        run_for(liveness, clock, consumer, 35)
    assert liveness.state == "stalled"


def test_progress_or_no_lag_is_never_a_stall():
    liveness, clock = guard()
    consumer = LaggingConsumer()
    for _ in range(20):
        assert run_for(liveness, clock, consumer, 10) == []
        liveness.progressed()
    consumer.position = lambda tp, timeout_ms=None: 200  # caught up
    assert run_for(liveness, clock, consumer, 300) == [] and liveness.lag == 0


def test_a_group_where_nobody_gets_partitions_is_rejoined_then_named_as_stuck():
    from consumers.liveness import REJOIN, Stalled

    consumer = LaggingConsumer(assigned=False)
    liveness, clock = guard(consumer=consumer)
    assert run_for(liveness, clock, consumer, 35) == []  # a join may take half the session timeout (6 s)
    assert run_for(liveness, clock, consumer, 7) == [REJOIN]
    with pytest.raises(Stalled, match="stuck in a rebalance.*AUTOVALUE_CONSUMER_GROUP"):
        run_for(liveness, clock, consumer, 42)


def test_an_idle_member_of_a_working_group_stays_put():
    consumer = LaggingConsumer(assigned=False)
    liveness, clock = guard(consumer=consumer)
    for committed in range(10):  # another member commits: the group's offsets move
        consumer.committed_offset = committed * 10
        assert run_for(liveness, clock, consumer, 20) == []
    consumer = LaggingConsumer(assigned=False)
    liveness, clock = guard(others=lambda: ["host:123"], consumer=consumer)  # another member's heartbeat holds some
    assert run_for(liveness, clock, consumer, 300) == []


def test_a_recreated_partition_is_reported_with_the_offsets_lost(caplog):
    """A restarted in-memory broker starts the partition again at 0: the listings between our
    last commit (as of the measurement before) and the end we last saw are named as lost, once."""
    from consumers.log_watch import LogWatch

    watch = LogWatch("listings")
    watch.commit_done({0: 100, 1: 40})
    assert not watch.measured(0, 140, 150) and not watch.measured(1, 40, 40) and not watch.measured(2, 70, 70)
    assert not watch.measured(0, 145, 150)  # the reported end lags the records: not a recreation
    watch.commit_done({0: 20})  # already the new log's, before the measurement that tells
    assert not caplog.records
    assert watch.measured(0, 30, 30) and watch.measured(2, 5, 5)
    assert not watch.measured(0, 60, 60)
    first, other = [r.getMessage() for r in caplog.records]
    assert "listings/0 was recreated (its end offset went back from 150 to 30)" in first
    assert "50 listing(s) at offsets 100-149, as last measured" in first and "50 lost in all" in first
    assert "listings/2 was recreated" in other and "this scorer did not hold it" in other


def test_a_recreated_log_makes_the_scorer_rejoin():
    """Its positions and its group belong to a log that is gone: a fresh member starts on the new one."""
    from consumers.liveness import REJOIN

    liveness, clock = guard()
    consumer = LaggingConsumer()
    assert run_for(liveness, clock, consumer, 6) == []
    consumer.end_offsets = lambda partitions, timeout_ms=None: {tp: 10 for tp in partitions}
    assert run_for(liveness, clock, consumer, 6) == [REJOIN]
    assert run_for(liveness, clock, consumer, 6) == []  # once
