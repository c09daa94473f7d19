"""`make demo` -> first valuation on the dashboard (issue 20), in a fresh home each run.

Each run starts `make demo` (venv already built) with AUTOVALUE_HOME in a new temporary folder and
free ports, so it generates the market, builds the features and trains the first champion as a
fresh clone does. It is done when the dashboard answers and the valuations table holds a row,
read with the dashboard's own query (app.database.latest_valuations). Then it stops the demo as
Ctrl-C does (SIGINT to its process group) and checks that no process of that home is left.

    python -m bench.bench_demo_start [--runs 3] [--timeout 600]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine

from bench.common import median, write_result
from bench.stack import free_port

REPO = Path(__file__).resolve().parents[1]
GOAL_S = 90.0


def _processes_of(home: Path) -> list[int]:
    """Processes whose environment names this home: the demo and everything it started."""
    marker = f"AUTOVALUE_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:  # gone, or another user's
                continue
    return found


def _first_valuation(database: str) -> bool:
    from app.database import latest_valuations
    from app.guard import DatabaseUnavailable, NoData

    engine = create_engine(database)
    try:
        return not latest_valuations(engine, limit=1).empty
    except (NoData, DatabaseUnavailable):
        return False
    finally:
        engine.dispose()


def _dashboard_up(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


class _Lines(threading.Thread):
    """The demo's stdout, each line with its second since the start (what each phase took)."""

    def __init__(self, stream, started: float) -> None:
        super().__init__(daemon=True)
        self.stream, self.started, self.lines = stream, started, []

    def run(self) -> None:
        for raw in self.stream:
            text = raw.decode(errors="replace").split("\r")[-1].rstrip()  # a progress bar's last state
            if text and not re.match(r"^\s*(train|xgboost)\b.*\|", text):
                self.lines.append((round(time.monotonic() - self.started, 1), text))


def run_once(timeout_s: float, keep: bool, poll_s: float = 0.5) -> dict:
    home = Path(tempfile.mkdtemp(prefix="autovalue-demo-bench-")).resolve()
    dashboard = free_port()
    service = free_port()
    env = dict(os.environ, AUTOVALUE_HOME=str(home), AUTOVALUE_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}",
               AUTOVALUE_SERVICE_PORT=str(service), AUTOVALUE_SERVICE_URL=f"http://127.0.0.1:{service}",
               AUTOVALUE_DASHBOARD_PORT=str(dashboard))
    database = f"sqlite:///{home / 'data' / 'autovalue.db'}"
    started = time.monotonic()
    # A shell's background job ignores SIGINT, and so would the demo: Ctrl-C's default, as in a terminal.
    demo = subprocess.Popen(["make", "--no-print-directory", "demo"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = _Lines(demo.stdout, started)
    lines.start()
    seconds = None
    try:
        while time.monotonic() - started < timeout_s and demo.poll() is None:
            if _first_valuation(database) and _dashboard_up(dashboard):
                seconds = round(time.monotonic() - started, 1)
                break
            time.sleep(poll_s)
    finally:
        stop_began = time.monotonic()
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        try:
            demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
        stop_s = round(time.monotonic() - stop_began, 1)
        lines.join(timeout=5)
        left = _processes_of(home)
        for pid in left:  # not the demo's way of stopping: reported below as unclean
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not keep:
            shutil.rmtree(home, ignore_errors=True)
    return {"home": str(home) if keep else None, "first_valuation_s": seconds, "exit_status": demo.returncode, "stop_s": stop_s,
            "left_running": len(left), "log": lines.lines}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a run may take to a valuation")
    parser.add_argument("--keep", action="store_true", help="keep each run's home (its logs, MLflow, data)")
    args = parser.parse_args()
    runs = []
    for number in range(1, args.runs + 1):
        run = run_once(args.timeout, args.keep)
        runs.append(run)
        print(f"run {number}: first valuation after {run['first_valuation_s']} s; stopped in {run['stop_s']} s, "
              f"status {run['exit_status']}, {run['left_running']} processes left", flush=True)
    measured = [r["first_valuation_s"] for r in runs if r["first_valuation_s"] is not None]
    write_result("demo_start", {
        "what": "make demo (venv built) -> first valuation on the dashboard, fresh home", "goal_s": GOAL_S,
        "median_s": median(measured) if len(measured) == len(runs) else None,
        "runs_s": [r["first_valuation_s"] for r in runs],
        # make ends itself with the SIGINT once the demo has stopped (-2), as after a Ctrl-C in a terminal.
        "clean_stops": all(r["exit_status"] in (0, -signal.SIGINT) and r["left_running"] == 0 for r in runs),
        "runs": runs,
    })


if __name__ == "__main__":
    main()
