"""`autovalue demo`: the whole pipeline on the embedded default, until Ctrl-C.

broker -> market (generated once) -> features -> model (trained when none) -> service ->
scorer -> simulator -> dashboard. Long-running parts are child processes of this command,
each in its own process group, all stopped together.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

import httpx

from autovalue.settings import Settings, get_settings
from autovalue_cli.common import today


def _autovalue(*args: str) -> list[str]:
    return [sys.executable, "-m", "autovalue_cli.main", *args]


def _start(name: str, command: list[str], log_dir) -> subprocess.Popen:
    log_dir.mkdir(parents=True, exist_ok=True)
    output = open(log_dir / f"{name}.log", "ab")
    print(f"  {name}: logging to {log_dir / f'{name}.log'}")
    return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(processes: dict[str, subprocess.Popen]) -> None:
    for process in reversed(list(processes.values())):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for name, process in processes.items():
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _wait_ready(settings: Settings, process: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the valuation service exited; see its log")
        try:
            if httpx.get(f"{settings.service_url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the valuation service did not become ready")


def _wait_restarting_the_scorer(processes: dict[str, subprocess.Popen], logs, delay: float = 5.0) -> None:
    """Until SIGINT or SIGTERM. A scorer that exits non-zero (its liveness guard gave up, or
    it crashed) is started again, after 5 s doubling to 5 min, as compose's restart policy does."""
    stop: list[bool] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.append(True))
    restart_at = None
    while not stop:
        time.sleep(0.5)
        status = processes["scorer"].poll()
        if status in (None, 0):
            continue
        if restart_at is None:
            print(f"scorer exited with status {status} (see its log); starting it again in {delay:.0f} s")
            restart_at = time.monotonic() + delay
        elif time.monotonic() >= restart_at:
            processes["scorer"] = _start("scorer", _autovalue("score"), logs)
            delay, restart_at = min(delay * 2, 300.0), None


def setup(settings: Settings) -> None:
    """What a fresh deployment needs once: market data, features in both stores, a champion."""
    from feature_repo.pipeline import build_features
    from market.generate import generate_market
    from market.io import read_source, table_path

    if not table_path(settings.raw_dir, settings.market_source).exists():
        print("market: generating")
        generate_market(settings.raw_dir, settings.market_listings, settings.market_seed, today(),
                        settings.market_days)
    if not (settings.processed_dir / "model_market.parquet").exists():
        print("features: building, applying, materializing")
        build_features(settings, read_source(settings.raw_dir, settings.market_source))
    from autovalue_cli.training_commands import ensure_champion

    ensure_champion(settings)


def cmd_setup(args: argparse.Namespace) -> int:
    setup(get_settings())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from broker.embedded import EmbeddedBroker

    settings = get_settings()
    broker = EmbeddedBroker(settings).start()
    print(f"broker: {settings.kafka_bootstrap}{' (reused)' if broker.reused else ''}")
    setup(settings)

    processes: dict[str, subprocess.Popen] = {}
    logs = settings.data_dir / "logs"
    try:
        processes["service"] = _start("service", _autovalue("serve"), logs)
        _wait_ready(settings, processes["service"])
        print(f"service: {settings.service_url} ready")
        processes["scorer"] = _start("scorer", _autovalue("score"), logs)
        processes["simulator"] = _start("simulator", _autovalue(
            "simulate", "--rate", str(args.rate), "--duration", str(args.duration), "--bad-share", "0.02"), logs)
        processes["dashboard"] = _start("dashboard", _autovalue("dashboard"), logs)
        print(f"dashboard: http://127.0.0.1:{settings.dashboard_port}")
        if args.no_wait:
            time.sleep(args.settle)
        else:
            print("running; Ctrl-C stops everything")
            _wait_restarting_the_scorer(processes, logs)
    finally:
        _stop(processes)
        broker.stop()
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("setup", help="generate the market, build features, train a champion: each only when missing")
    p.set_defaults(func=cmd_setup)

    p = commands.add_parser("demo", help="the whole pipeline on the embedded default, until Ctrl-C")
    p.add_argument("--rate", type=float, default=20.0, help="simulated listings per second")
    p.add_argument("--duration", type=float, default=86_400.0, help="seconds of simulated listings")
    p.add_argument("--no-wait", action="store_true", help="start everything, run --settle seconds, stop")
    p.add_argument("--settle", type=float, default=20.0)
    p.set_defaults(func=cmd_demo)
