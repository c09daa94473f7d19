"""Streaming benchmark: sustained listings/s end to end (produce -> valuation row in the
database), p50/p99 freshness at a fixed 1,000 listings/s, and in the same run the ceiling:
bare kafka-python consume-and-produce on the same broker.

    python -m bench.bench_stream [--backlog 30000] [--runs 5]

The ratio is the median of per-run ratios, each end-to-end run paired with the ceiling run just
before it.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
from sqlalchemy import select

from consumers.kafka_clients import group_consumer, json_producer
from deploy.processes import ServerProcess, autovalue_command, serve_command, settings_environment, stop_process_group
from autovalue.settings import Settings
from autovalue.tables import connect, valuations
from bench.common import median, percentiles, write_result
from bench.stack import build_market, free_port, isolated, train_champion
from broker.embedded import EmbeddedBroker
from consumers.scorer import Scorer
from consumers.simulator import ListingFactory, simulate


def produce_backlog(settings: Settings, count: int) -> None:
    factory = ListingFactory(settings, seed=1)
    producer = json_producer(settings, linger_ms=20, batch_size=256 * 1024)
    for start in range(0, count, 1000):
        for listing in factory.batch(min(1000, count - start)):
            producer.send(settings.topic_listings, key=listing["listing_id"], value=listing)
    producer.flush()
    producer.close()


def ceiling(settings: Settings, count: int) -> float:
    """Bare kafka-python: consume a backlog in a group and produce each message on, with the
    scorer's own consumer and producer settings."""
    produce_backlog(settings, count)
    consumer = group_consumer(settings, settings.topic_listings, max_poll_records=settings.scorer_batch)
    producer = json_producer(settings, linger_ms=settings.scorer_producer_linger_ms,
                             batch_size=settings.scorer_producer_batch_bytes)
    seen, started = 0, None
    while seen < count:
        for batch in consumer.poll(timeout_ms=200).values():
            started = started or time.perf_counter()
            for record in batch:
                producer.send(settings.topic_valuations, key=record.key, value=record.value)
            seen += len(batch)
        consumer.commit()
    producer.flush()
    elapsed = time.perf_counter() - started
    consumer.close()
    producer.close()
    return count / elapsed


def drain(settings: Settings, count: int) -> tuple[float, float]:
    """The real scorer (in this process) drains a backlog through the service into the database.
    Returns listings/s and how busy the machine's cores were meanwhile (0-1): broker, service
    and scorer share them here."""
    scorer = Scorer(settings)
    while not scorer.consumer.assignment():  # join while the topic is empty: not part of the figure
        assert not scorer.consumer.poll(timeout_ms=100)
    produce_backlog(settings, count)
    psutil.cpu_percent()
    started = time.perf_counter()
    scorer.run(idle_exit_s=2.0)
    elapsed = time.perf_counter() - started - 2.0
    # The 2 idle seconds at the end count in the average: scale them out.
    busy = psutil.cpu_percent() / 100 * (elapsed + 2.0) / elapsed
    assert scorer.counts["valued"] >= count, scorer.counts
    return count / elapsed, min(busy, 1.0)


def freshness(settings: Settings, rate: float, seconds: float) -> dict:
    """With the market feed beside the scorer, as deployed: its pushes share the cores."""
    def start(name: str, command: str) -> tuple[subprocess.Popen, Path]:
        log = settings.home / f"{name}-{settings.consumer_group}.log"
        return subprocess.Popen(autovalue_command(command), env=settings_environment(settings), stdout=open(log, "wb"),
                                stderr=subprocess.STDOUT, start_new_session=True), log

    (scorer, scorer_log), (feed, feed_log) = start("scorer", "score"), start("market-feed", "market-feed")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not ("scoring: assigned" in scorer_log.read_text(errors="replace")
                                               and "market feed: reading" in feed_log.read_text(errors="replace")):
        time.sleep(0.2)  # start-up and group join are not part of the steady-state freshness
    simulate(settings, rate, seconds)
    time.sleep(3)
    for process in (scorer, feed):
        stop_process_group(process, timeout=30)
    engine = connect(settings.database)
    with engine.connect() as connection:
        rows = connection.execute(select(valuations.c.produced_at, valuations.c.scored_at)).all()
    lags = [(scored - produced).total_seconds() * 1000 for produced, scored in rows]
    return {"rate": rate, "seconds": seconds, "rows": len(rows), **percentiles(lags)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backlog", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    base = Settings(home=home, kafka_bootstrap=f"127.0.0.1:{free_port()}")
    broker = EmbeddedBroker(base).start()
    build_market(base)
    train_champion(base)
    port = free_port()
    server = ServerProcess(serve_command(port), settings_environment(base), port, home / "service.log").start()
    base = base.model_copy(update={"service_url": server.url, "service_port": port})
    try:
        # Each end-to-end run right after its own ceiling run: the machine's speed drifts
        # (other tenants), and a ratio of neighbours drifts least.
        ceilings, drained = [], []
        for _ in range(args.runs):
            ceilings.append(ceiling(isolated(base), args.backlog))
            drained.append(drain(isolated(base), args.backlog))
        drains = [rate for rate, _ in drained]
        fresh = [freshness(isolated(base), args.rate, args.seconds) for _ in range(args.runs)]
    finally:
        server.stop()
        broker.stop()
    write_result("stream", {
        "ceiling_consume_produce_per_s": round(median(ceilings)),
        "end_to_end_listings_per_s": round(median(drains)),
        "ratio_to_ceiling": round(median([d / c for d, c in zip(drains, ceilings)]), 3),  # median of paired runs
        "freshness_at_fixed_rate": {"p50_ms_median": median([f["p50_ms"] for f in fresh]),
                                    "p99_ms_median": median([f["p99_ms"] for f in fresh]), "runs": fresh},
        "cores_busy_during_end_to_end": median([busy for _, busy in drained]),
        "cores": psutil.cpu_count(),
        "runs": {"ceiling": [round(c) for c in ceilings], "end_to_end": [round(d) for d in drains],
                 "ratio": [round(d / c, 3) for d, c in zip(drains, ceilings)],
                 "cores_busy": [round(busy, 2) for _, busy in drained]},
    })


if __name__ == "__main__":
    main()
