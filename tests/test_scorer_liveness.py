"""The scorer's liveness guard on the real broker: fetches that come back empty are recovered
from, a group tansu never assigns makes the scorer exit non-zero naming the fault, and each
scorer keeps a heartbeat row. Malformed messages only (dead letters): no service needed."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import select

from consumers.kafka_clients import group_consumer
from deploy.processes import settings_environment
from autovalue.tables import connect, scorer_heartbeats
from autovalue_cli.stream_commands import STALLED_EXIT
from consumers.scorer import Scorer, listings_consumer
from tests.service_support import REPO
from tests.streaming import isolated, produce, table_ids
from tests.test_scorer import committed_offsets

pytestmark = pytest.mark.slow


class Starving:
    """A consumer whose fetches come back empty although the log is ahead, as tansu's did with
    a deep partition: it stays in its group (polls) with every partition paused."""

    def __init__(self, consumer) -> None:
        self.consumer = consumer

    def poll(self, timeout_ms: int = 0):
        self.consumer.pause(*self.consumer.assignment())
        for partition, records in self.consumer.poll(timeout_ms=timeout_ms).items():
            self.consumer.seek(partition, records[0].offset)  # fetched along with the join: put back
        self.consumer.pause(*self.consumer.assignment())
        return {}

    def __getattr__(self, name):
        return getattr(self.consumer, name)


def heartbeats(settings) -> list[dict]:
    engine = connect(settings.database)
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(select(scorer_heartbeats))]
    engine.dispose()
    return rows


def test_a_scorer_whose_fetches_come_back_empty_recovers_and_says_so(settings, caplog):
    settings = isolated(settings, scorer_stall_s=3.0, scorer_lag_interval_s=0.5)
    produce(settings, [b"null"] * 30)
    scorer = Scorer(settings, consumer=Starving(listings_consumer(settings)))
    with caplog.at_level(logging.WARNING, logger="consumers.liveness"):
        scorer.run(idle_exit_s=15)

    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("no progress for") and "resuming and seeking" in line for line in lines), lines
    assert any("rejoining the group with a fetch wait of 100 ms" in line for line in lines), lines
    assert scorer.counts["recoveries"] == 2 and scorer.counts["dead_lettered"] == 30
    assert len(table_ids(settings)[1]) == 30 and sum(committed_offsets(settings).values()) == 30
    [beat] = heartbeats(settings)
    assert beat["consumer_group"] == settings.consumer_group and beat["state"] == "stopped"
    assert beat["fetch_wait_ms"] == 100 and beat["lag"] == 0 and beat["last_progress_at"] is not None


def test_a_group_tansu_never_assigns_makes_the_scorer_exit_non_zero_naming_the_fault(settings):
    settings = isolated(settings, scorer_stall_s=4.0, scorer_lag_interval_s=1.0)
    produce(settings, [b"null"] * 20)
    # tansu 0.6.0: a member that leaves while another joins stays the group's leader for good.
    first = group_consumer(settings, settings.topic_listings)
    deadline = time.monotonic() + 60
    while not first.assignment() and time.monotonic() < deadline:
        first.poll(timeout_ms=100, max_records=1)
    first.pause(*first.assignment())  # keeps the records for the scorer
    joining, stop = group_consumer(settings, settings.topic_listings), threading.Event()

    def join() -> None:
        while not stop.is_set():
            joining.poll(timeout_ms=100)

    thread = threading.Thread(target=join)
    thread.start()
    try:
        leave_at = time.monotonic() + 1.0
        while time.monotonic() < leave_at:
            first.poll(timeout_ms=100)
        first.close()  # leaves mid-rebalance
        # The fault is a group that never recovers: watch for the recovery, for as long as a
        # healthy group would need, and leave as soon as it comes.
        healthy_within = time.monotonic() + 10
        while time.monotonic() < healthy_within:
            if joining.assignment():
                pytest.skip("tansu assigned the group this time: the fault did not happen")
            time.sleep(0.2)
        log = settings.home / "stuck-scorer.log"
        scorer = subprocess.Popen([sys.executable, "-m", "autovalue_cli.main", "score"], cwd=REPO,
                                  env=settings_environment(settings), stdout=open(log, "wb"), stderr=subprocess.STDOUT)
        try:
            status = scorer.wait(timeout=120)
        finally:
            if scorer.poll() is None:
                scorer.kill()
    finally:
        stop.set()
        thread.join()
        joining.close()
    text = log.read_text()
    assert status == STALLED_EXIT, text[-2000:]
    assert "rejoining" in text and "stuck in a rebalance" in text and "AUTOVALUE_CONSUMER_GROUP" in text
    [beat] = heartbeats(settings)
    assert beat["state"] == "stalled" and beat["partitions"] == ""
