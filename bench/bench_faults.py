"""`make faults` (python -m bench.bench_faults): the scorer under faults, on an isolated
embedded stack (tansu, the valuation service, `autovalue score` processes, producers of our
own), with counts. For each fault: listings produced (acknowledged by the broker), valued
exactly once, dead-lettered, duplicate rows, lost (acknowledged, and neither valued nor
dead-lettered), and the time to catch up after the fault ended (until the last listing
acknowledged before that moment was stored).

    python -m bench.bench_faults [--only sigkill,load] [--short] [--seed 7]

Each fault has its own topics, consumer group and database; the broker, the service and the
champion are shared (a broker restart empties every topic, so it runs after the others).
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from deploy.processes import stop_process_group
from bench.common import write_result
from bench.faults_stack import Producer, Stack, kill_moments, scorer_logs, stored, tally
from bench.stack import isolated
from consumers.heartbeat import wait_until_group_settled

FAULTS = ["sigkill", "service_down", "db_locked", "join_leave", "sizes", "broker_restart", "load"]
MAX_MESSAGE_BYTES = 1_000_000  # under the producer's max_request_size (1 MiB) with the record's overhead


@dataclass
class Run:
    """One fault: its settings, producer, scorers and a progress bar over its schedule."""

    stack: Stack
    name: str
    settings: object
    producer: Producer
    seconds: float
    scorers: list = field(default_factory=list)
    exits: list = field(default_factory=list)  # exit codes of scorers we stopped with SIGTERM
    notes: list = field(default_factory=list)
    max_lag: int = 0

    def __post_init__(self) -> None:
        self.started = time.monotonic()
        self.bar = tqdm(total=int(self.seconds), desc=f"{self.name:>14}", unit="s", dynamic_ncols=True)
        self.next_sample = 0.0

    def until(self, t: float) -> None:
        """Wait until `t` s into the fault, sampling the backlog every second."""
        while time.monotonic() - self.started < t:
            self.sample()
            time.sleep(0.2)

    def sample(self) -> int:
        now = time.monotonic()
        if now < self.next_sample:
            return self.max_lag
        self.next_sample = now + 1.0
        count = stored(self.settings)
        lag = max(0, self.producer.count - count)
        self.max_lag = max(self.max_lag, lag)
        self.bar.n = min(self.bar.total, int(now - self.started))
        self.bar.set_postfix(produced=self.producer.count, stored=count, backlog=lag, refresh=True)
        return lag

    def settle(self, quiet_s: float) -> None:
        """After production: until everything acknowledged is stored, or nothing moved for `quiet_s`."""
        last, moved = -1, time.monotonic()
        while time.monotonic() - moved < quiet_s:
            count = stored(self.settings)
            self.sample()
            if count >= self.producer.count:
                time.sleep(2.0)  # anything beyond (a duplicate) shows up now
                return
            if count != last:
                last, moved = count, time.monotonic()
            time.sleep(0.5)

    def stop_scorer(self, process) -> None:
        if process.poll() is None:
            stop_process_group(process, timeout=60)
            self.exits.append(process.returncode)


def sigkill(run: Run, args) -> float:
    for at in kill_moments(args.seed, args.kills, 5.0, run.seconds * 0.85, args.min_kill_gap_s):
        run.until(at)
        os.killpg(run.scorers[-1].pid, signal.SIGKILL)
        run.scorers[-1].wait()
        run.scorers.append(run.stack.scorer(run.settings, f"{run.name}-scorer"))  # as a supervisor would
    return time.time()


def service_down(run: Run, args) -> float:
    run.until(10)
    run.stack.server.stop()
    down = time.monotonic()
    run.until(10 + args.outage_s)
    run.stack.server.start()
    run.notes.append(f"service down {time.monotonic() - down:.0f} s (with its start-up)")
    return time.time()


def db_locked(run: Run, args) -> float:
    run.until(10)
    holder = sqlite3.connect(run.settings.database.removeprefix("sqlite:///"), isolation_level=None, timeout=60)
    holder.execute("BEGIN EXCLUSIVE")  # no other connection writes until it ends
    run.until(10 + args.outage_s)
    holder.execute("ROLLBACK")
    holder.close()
    return time.time()


def join_leave(run: Run, args) -> float:
    for i in range(3):
        run.until(10 + i * (run.seconds - 20) / 3)
        second = run.stack.scorer(run.settings, f"{run.name}-second")
        wait_until_group_settled(run.settings, 2)
        run.stop_scorer(second)
        wait_until_group_settled(run.settings, 1)
    return time.time()


def sizes(run: Run, args) -> float:
    run.until(5)
    limit = run.settings.listing_max_bytes
    run.producer.malformed(each=args.malformed_each)
    run.producer.sized(limit, bad=False)  # at the limit: valued
    run.producer.sized(limit + 1, bad=True)  # over it: a dead letter, as HTTP's 413
    run.producer.sized(MAX_MESSAGE_BYTES, bad=True, valid_json=False)
    run.producer.sized(MAX_MESSAGE_BYTES, bad=True)
    run.producer.producer.flush(timeout=60)
    return time.time()


def broker_restart(run: Run, args) -> float:
    """With a backlog: the service is down for 15 s first (the scorer waits, listings pile up),
    so the restart loses listings the broker had acknowledged and nobody had valued yet."""
    run.until(5)
    run.producer.malformed(each=1)  # dead letters on the old log...
    run.until(10)
    run.stack.server.stop()
    run.until(25)
    down = time.monotonic()
    run.stack.restart_broker(run.settings)
    fault_end = time.time()
    run.notes.append(f"broker away {time.monotonic() - down:.1f} s, the service down 15 s before it")
    run.stack.server.start()
    run.producer.malformed(each=1)  # ...and on the new one, at the same positions
    return fault_end


def load(run: Run, args) -> float:
    run.until(run.seconds)
    return time.time()


def run_fault(stack: Stack, name: str, args) -> dict:
    rate = args.load_rate if name == "load" else args.rate
    seconds = {"load": args.load_seconds, "sizes": 20.0, "service_down": args.outage_s + 40,
               "db_locked": args.outage_s + 40, "broker_restart": 60.0}.get(name, args.seconds)
    settings = isolated(stack.base)
    first = stack.scorer(settings, f"{name}-scorer")
    wait_until_group_settled(settings, 1)  # joined before the stream starts: start-up is not the fault
    producer = Producer(settings, rate, seed=args.seed).start(seconds)
    run = Run(stack, name, settings, producer, seconds, scorers=[first])
    fault_end = globals()[name](run, args)
    run.until(seconds)
    producer.join()
    run.settle(args.quiet_s)
    run.bar.close()
    for process in run.scorers:
        run.stop_scorer(process)
    producer.close()
    return {"fault": name, **tally(settings, producer, fault_end), "max_backlog": run.max_lag,
            "scorer_exits": run.exits, "notes": run.notes, **scorer_logs(stack.home, name)}


NOTES = [("max_backlog", "max backlog {:,}"), ("stall_recoveries", "{} stall recoveries"),
         ("recreated_partitions", "{} partitions recreated"), ("loss_reported", "scorer reported {:,} lost"),
         ("lost_acked_before_fault_end", "{:,} of the lost acknowledged before the fault ended"),
         ("not_acknowledged", "{:,} sends not acknowledged"), ("tracebacks", "{} tracebacks"),
         ("stuck_group", "{} stuck-group warnings"), ("bad_valued", "{} bad messages valued")]


def table(results: list[dict]) -> str:
    lines = ["| fault | produced | valued once | dead-lettered | duplicate rows | lost | catch-up | notes |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        notes = r["notes"] + [text.format(r[key]) for key, text in NOTES if r.get(key)]
        if any(code != 0 for code in r["scorer_exits"]):
            notes.append(f"scorer exits {r['scorer_exits']}")
        lines.append(f"| {r['fault']} | {r['produced']:,} | {r['valued_once']:,} | {r['dead_lettered']:,} | "
                     f"{r['duplicate_rows']:,} | {r['lost']:,} | {r['catch_up_s']} s | {'; '.join(notes)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(FAULTS), help=f"comma-separated, of {', '.join(FAULTS)}")
    parser.add_argument("--short", action="store_true", help="shorter schedules: a quick check of the harness")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=300.0, help="listings/s during the faults")
    parser.add_argument("--seconds", type=float, default=100.0, help="production time of sigkill and join_leave")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--min-kill-gap-s", type=float, default=4.0)
    parser.add_argument("--outage-s", type=float, default=30.0, help="service down / database locked")
    parser.add_argument("--load-rate", type=float, default=1000.0)
    parser.add_argument("--load-seconds", type=float, default=300.0)
    parser.add_argument("--malformed-each", type=int, default=5)
    parser.add_argument("--quiet-s", type=float, default=90.0, help="give up waiting once nothing moved this long")
    args = parser.parse_args()
    if args.short:
        args.seconds, args.outage_s, args.load_seconds, args.quiet_s = 40.0, 10.0, 60.0, 45.0
    chosen = [f for f in FAULTS if f in args.only.split(",")]
    home = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    print(f"faults {', '.join(chosen)}; logs in {home}", flush=True)
    stack = Stack(home)
    results = []
    try:
        for name in chosen:
            results.append(run_fault(stack, name, args))
            print(table(results[-1:]).splitlines()[-1], flush=True)
    finally:
        stack.close()
    write_result("faults", {"args": vars(args), "results": results, "logs": str(home)})
    print(table(results))


if __name__ == "__main__":
    main()
