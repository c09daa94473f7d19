"""A champion promoted under load: no failed request, and the version in the answers changes once.

    python -m bench.bench_rollout [--rate 100] [--seconds 60] [--home DIR]

In a temporary AUTOVALUE_HOME (or --home, one `autovalue setup` has filled): `autovalue setup`,
then a second model (`autovalue train --promote --seed 7`) and `autovalue champion set v1`, so
that two exported versions exist and v1 is served. `autovalue serve` (default workers) on a free
port; single valuations at a steady rate from a pool of threads, each thread with its own
keep-alive connection (the kernel spreads the connections over the workers); halfway through,
`autovalue champion set v2`. Reports requests, failures, answers per version, and the answers
that went back: v1 answers to requests sent after some request had already been answered by v2
(what a caller would see as the version going back; with requests in flight side by side, their
sending or answering order says nothing about which model was due when each was valued):
bench/results/rollout.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from autovalue.settings import QUIET_LIBRARIES
from deploy.processes import ServerProcess, autovalue_command, serve_command
from bench.common import percentiles, write_result
from bench.stack import free_port

LISTING = {"brand": "Toyota", "model": "Avanza", "year": 2020, "mileage_km": 60_000, "fuel": "petrol",
           "transmission": "manual", "body_type": "mpv", "region": "Bali", "seller_type": "dealer",
           "asking_price": 150_000_000}


def cli(env: dict, *args: str) -> str:
    done = subprocess.run(autovalue_command(*args), env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"autovalue {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def changes(versions: list[str]) -> int:
    return sum(a != b for a, b in zip(versions, versions[1:]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=100.0, help="valuations per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long; the promotion comes halfway")
    parser.add_argument("--home", type=Path, help="an AUTOVALUE_HOME with v1 and v2 exported (else one is made)")
    args = parser.parse_args()

    home = args.home.resolve() if args.home else Path(tempfile.mkdtemp(prefix="bench-rollout-"))
    port = free_port()
    env = {**os.environ, "AUTOVALUE_HOME": str(home), "AUTOVALUE_SERVICE_PORT": str(port),
           **QUIET_LIBRARIES, "PYTHONUNBUFFERED": "1"}
    if not args.home:
        print(f"autovalue setup and a second model in {home}", flush=True)
        cli(env, "setup")
        cli(env, "train", "--promote", "--seed", "7", "--quiet")
    cli(env, "champion", "set", "v1")

    server = ServerProcess(serve_command(port), env, port, home / "bench-rollout-serve.log").start(timeout=180)
    url = server.url
    try:
        results: list[tuple[float, float, int, str]] = []  # (sent, answered, status, version or error)
        lock = threading.Lock()

        local = threading.local()

        def one(i: int) -> None:
            if not hasattr(local, "client"):
                local.client = httpx.Client(base_url=url, timeout=30)
            sent = time.monotonic()
            try:
                r = local.client.post("/valuate", json={"listing": {**LISTING, "listing_id": f"b-{i}"}})
                outcome = (r.status_code, r.json()["model_version"] if r.status_code == 200 else r.text[:200])
            except httpx.HTTPError as error:
                outcome = (0, f"{type(error).__name__}: {error}")
            with lock:
                results.append((sent, time.monotonic(), *outcome))

        total = int(args.rate * args.seconds)
        promoted_at = None
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=32) as pool:
            for i in range(total):
                due = started + i / args.rate
                time.sleep(max(0.0, due - time.monotonic()))
                if promoted_at is None and i >= total // 2:
                    promoted_at = time.monotonic() - started
                    threading.Thread(target=cli, args=(env, "champion", "set", "v2")).start()
                pool.submit(one, i)
        elapsed = time.monotonic() - started
    finally:
        server.stop(timeout=60)

    by_sent = [r[3] for r in sorted(results) if r[2] == 200]
    first_v2_answered = min((r[1] for r in results if r[3] == "v2"), default=None)
    went_back = [r for r in results if r[3] == "v1" and first_v2_answered is not None and r[0] > first_v2_answered]
    result = {
        "rate": args.rate, "seconds": args.seconds, "achieved_rate": round(len(results) / elapsed, 1),
        "requests": len(results), "failed": [r[2:] for r in results if r[2] != 200][:20],
        "failed_count": sum(r[2] != 200 for r in results),
        "answers_by_version": {v: by_sent.count(v) for v in sorted(set(by_sent))},
        "answers_that_went_back": len(went_back),
        "version_changes_in_sending_order": changes(by_sent),
        "promoted_at_s": round(promoted_at, 2) if promoted_at is not None else None,
        "first_v2_answered_at_s": round(first_v2_answered - started, 2) if first_v2_answered else None,
        "latency": percentiles([(r[1] - r[0]) * 1000 for r in results]),
        "home": str(home),
    }
    write_result("rollout", result)


if __name__ == "__main__":
    main()
