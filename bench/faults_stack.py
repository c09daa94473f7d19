"""The fault suite's parts (bench/bench_faults.py): an isolated embedded stack (tansu, the
valuation service, scorer processes), a producer thread that counts what the broker
acknowledged, and the counts read back from the database after a fault."""

from __future__ import annotations

import json
import random
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, select

from consumers.kafka_clients import ensure_topics, json_producer
from autovalue.logs import tracebacks_outside_kafka_python
from deploy.processes import ServerProcess, autovalue_command, serve_command, settings_environment
from autovalue.settings import Settings
from autovalue.tables import connect, dead_letters, valuations
from broker.embedded import EmbeddedBroker
from consumers.simulator import MALFORMED_KINDS, ListingFactory, _malformed
from bench.stack import build_market, free_port, train_champion


class Stack:
    """Broker, market, champion and service in `home`; scorers started per fault."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.base = Settings(home=home, kafka_bootstrap=f"127.0.0.1:{free_port()}")
        self.broker = EmbeddedBroker(self.base, log_path=home / "tansu.log").start()
        build_market(self.base)
        train_champion(self.base)
        port = free_port()
        self.server = ServerProcess(serve_command(port), settings_environment(self.base), port, home / "service.log").start()
        self.base = self.base.model_copy(update={"service_url": self.server.url, "service_port": port})

    def scorer(self, settings: Settings, name: str) -> subprocess.Popen:
        log = open(self.home / f"{name}.log", "ab")
        return subprocess.Popen(autovalue_command("score"), env=settings_environment(settings), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def restart_broker(self, settings: Settings) -> None:
        """A new tansu on the same address: memory only, so every topic starts again empty."""
        self.broker.stop()
        self.broker = EmbeddedBroker(self.base, log_path=self.home / "tansu.log").start()
        ensure_topics(settings)

    def close(self) -> None:
        self.server.stop()
        self.broker.stop()


@dataclass
class Producer:
    """Listings at `rate`/s on a thread; each counted once the broker acknowledged it, with
    the wall-clock time of the acknowledgement."""

    settings: Settings
    rate: float
    seed: int = 0
    acked: dict = field(default_factory=dict)  # listing id -> acknowledged at (epoch s)
    bad: set = field(default_factory=set)  # ids of the acknowledged messages that are no valid listing
    unnamed_bad: int = 0  # acknowledged bad messages without a listing id
    failed: int = 0  # sends the broker never acknowledged

    def __post_init__(self) -> None:
        self.factory = ListingFactory(self.settings, seed=self.seed)
        # Its own factory for the messages sent from the fault's thread: ids from one factory
        # on two threads could repeat.
        self.extras = ListingFactory(self.settings, seed=self.seed + 1)
        self.producer = json_producer(self.settings, linger_ms=10)
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def send(self, listing_id: str | None, value, bad: bool = False) -> None:
        def done(_metadata) -> None:
            if listing_id is None:
                self.unnamed_bad += 1
                return
            self.acked[listing_id] = time.time()
            if bad:
                self.bad.add(listing_id)

        def failed(_error) -> None:
            self.failed += 1

        future = self.producer.send(self.settings.topic_listings, key=listing_id, value=value)
        future.add_callback(done).add_errback(failed)

    def start(self, seconds: float) -> "Producer":
        self.thread = threading.Thread(target=self._run, args=(seconds,), name="fault-producer", daemon=True)
        self.thread.start()
        return self

    def _run(self, seconds: float) -> None:
        started, sent, total = time.monotonic(), 0, int(self.rate * seconds)
        while sent < total and not self.stopping.is_set():
            due = min(total, int((time.monotonic() - started) * self.rate) + 1)
            for listing in self.factory.batch(due - sent) if due > sent else []:
                self.send(listing["listing_id"], listing)
            sent = max(sent, due)
            time.sleep(0.01)
        self.producer.flush(timeout=60)

    def malformed(self, each: int) -> None:
        """Every malformed-listing kind the simulator knows, `each` times."""
        for kind in MALFORMED_KINDS * each:
            listing = self.extras.batch(1)[0]
            self.send(listing["listing_id"], _malformed(kind, listing), bad=True)

    def sized(self, size: int, bad: bool, valid_json: bool = True) -> None:
        """A listing of exactly `size` bytes (valid JSON padded with spaces), or as many bytes of
        invalid UTF-8 (unnamed)."""
        if not valid_json:
            self.send(None, b"\xff\xfe" * (size // 2), bad=True)
            return
        listing = self.extras.batch(1)[0]
        raw = json.dumps(listing).encode()
        self.send(listing["listing_id"], raw + b" " * (size - len(raw)), bad=bad)

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()
        self.producer.flush(timeout=60)

    def close(self) -> None:
        self.stopping.set()
        self.join()
        self.producer.close()

    @property
    def count(self) -> int:
        return len(self.acked) + self.unnamed_bad


def stored(settings: Settings) -> int:
    """Valuation rows plus dead-letter rows."""
    engine = connect(settings.database)
    try:
        with engine.connect() as connection:
            return sum(connection.execute(select(func.count()).select_from(t)).scalar() for t in (valuations, dead_letters))
    finally:
        engine.dispose()


def rows(settings: Settings) -> tuple[list, list]:
    engine = connect(settings.database)
    with engine.connect() as connection:
        valued = connection.execute(select(valuations.c.listing_id, valuations.c.created_at)).all()
        dead = connection.execute(select(dead_letters.c.listing_id, dead_letters.c.created_at)).all()
    engine.dispose()
    return valued, dead


def epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def tally(settings: Settings, producer: Producer, fault_end: float) -> dict:
    """The fault's counts. Lost: a valid listing acknowledged and neither valued nor
    dead-lettered, or a bad message without its dead letter (bad messages may carry no
    readable listing id: counted, not matched). Catch-up: from the fault's end until the last
    listing acknowledged before it was stored."""
    valued, dead = rows(settings)
    acked, bad = producer.acked, producer.bad
    per_id: dict[str, int] = {}
    for listing_id, _ in valued:
        per_id[listing_id] = per_id.get(listing_id, 0) + 1
    valid_dead = {listing_id for listing_id, _ in dead if listing_id in acked and listing_id not in bad}
    lost_ids = [i for i in acked if i not in bad and i not in per_id and i not in valid_dead]
    lost_bad = max(0, len(bad) + producer.unnamed_bad - (len(dead) - len(valid_dead)))
    done_at = [epoch(at) for listing_id, at in valued + dead if listing_id in acked and acked[listing_id] <= fault_end]
    return {"produced": producer.count, "valued_once": sum(1 for count in per_id.values() if count == 1),
            "dead_lettered": len(dead), "duplicate_rows": len(valued) - len(per_id),
            "lost": len(lost_ids) + lost_bad, "lost_acked_before_fault_end": sum(acked[i] <= fault_end for i in lost_ids),
            "bad_valued": sum(1 for i in bad if i in per_id),
            "catch_up_s": round(max(0.0, max(done_at, default=fault_end) - fault_end), 1),
            "not_acknowledged": producer.failed}


def scorer_logs(home: Path, prefix: str) -> dict:
    """What the fault's scorers said: liveness recoveries, recreated partitions (and the loss
    they reported), tracebacks of ours (kafka-python's own handled ones left out)."""
    logs = sorted(home.glob(f"{prefix}*.log"))
    text = "".join(p.read_text(errors="replace") for p in logs)
    # Each scorer's line carries its running total: the last one per log counts.
    reported = [max(map(int, re.findall(r"(\d+) lost in all", p.read_text(errors="replace"))), default=0) for p in logs]
    return {"stall_recoveries": text.count("no progress for"), "recreated_partitions": text.count("was recreated"),
            "loss_reported": sum(reported), "tracebacks": sum(len(tracebacks_outside_kafka_python(p)) for p in logs),
            "stuck_group": text.count("no partitions for")}


def kill_moments(seed: int, count: int, start_s: float, end_s: float, min_gap_s: float) -> list[float]:
    rng = random.Random(seed)
    moments = sorted(rng.uniform(start_s, end_s) for _ in range(count))
    for i in range(1, count):
        moments[i] = max(moments[i], moments[i - 1] + min_gap_s)
    return moments
