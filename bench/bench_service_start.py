"""`autovalue serve` -> /readyz 200 (issue 19): how long a start, a restart after a crash or a
scale-up waits, and where that time goes.

One small market and champion in a throw-away home (the real feature pipeline and trainer), then
`--runs` starts of the service on a free port. Each run is timed from the command's start to the
first 200 of /readyz, then one valuation is asked for and must name the champion's version with a
positive price. Each worker's own phases come from its log lines: BentoML's arbiter line ("Starting
production"), each worker's "serving champion" line. Beside the runs, the imports a worker pays,
each in a fresh interpreter: the service module, Feast, XGBoost.

    python -m bench.bench_service_start [--runs 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

from deploy.processes import ServerProcess, serve_command, settings_environment
from autovalue.settings import Settings
from bench.common import median, write_result
from bench.stack import build_market, free_port, train_champion

GOAL_S = 5.0
IMPORTS = {"bento.service": "import bento.service", "feast": "import feast", "xgboost": "import xgboost",
           # as a worker imports them (bento/lean_imports.py): Feast without typeguard's
           # instrumentation, XGBoost without scikit-learn
           "feast_in_a_worker": "from bento.lean_imports import skip_type_check_instrumentation; "
                                "skip_type_check_instrumentation(); import feast",
           "xgboost_in_a_worker": "from bento.lean_imports import skip_unused_imports; skip_unused_imports(); "
                                  "import xgboost"}
LISTING = {"listing_id": "start-probe", "brand": "Toyota", "model": "Avanza", "year": 2020, "mileage_km": 50_000,
           "fuel": "petrol", "transmission": "manual", "body_type": "mpv", "region": "Bali", "seller_type": "dealer",
           "asking_price": 180e6}
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")


def _import_seconds(statement: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def _log_offsets(log: str, started: datetime) -> dict[str, float | None]:
    """Seconds (whole: BentoML's stamps) from the start to the arbiter's line and the last worker's."""
    def at(pattern: str, last: bool = False) -> float | None:
        lines = [line for line in log.splitlines() if pattern in line and STAMP.match(line)]
        if not lines:
            return None
        stamp = datetime.fromisoformat(STAMP.match(lines[-1 if last else 0]).group(1)).replace(tzinfo=timezone.utc)
        return round((stamp - started).total_seconds(), 1)
    return {"arbiter_s": at("Starting production"), "last_worker_s": at("serving champion", last=True)}


def _one_start(settings: Settings, env: dict[str, str], version: str, log_path: Path) -> dict:
    port = free_port()
    started = datetime.now(timezone.utc).replace(microsecond=0)
    server = ServerProcess(serve_command(port), env, port, log_path).start(timeout=120)
    try:
        listing = {**LISTING, "listed_at": datetime.now(timezone.utc).isoformat()}
        answer = httpx.post(f"{server.url}/valuate", json={"listing": listing}, timeout=30).json()
        valued = answer.get("model_version") == version and answer.get("predicted_price", 0) > 0
    finally:
        server.stop()
    return {"ready_s": round(server.ready_after, 2), "valued_correctly": valued,
            **_log_offsets(log_path.read_text(errors="replace"), started)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-start-") as home:
        settings = Settings(home=Path(home), service_workers=args.workers)
        print("setting up a small market and champion (the real pipeline and trainer)", flush=True)
        build_market(settings)
        version = train_champion(settings)["version"]
        env = settings_environment(settings)
        imports = {name: round(median([_import_seconds(statement, env) for _ in range(args.runs)]), 2)
                   for name, statement in IMPORTS.items()}
        runs = []
        for run in range(args.runs):
            runs.append(_one_start(settings, env, version, Path(home) / f"serve-{run}.log"))
            print(f"run {run + 1}: {runs[-1]}", flush=True)
    ready = median([r["ready_s"] for r in runs])
    write_result("service_start", {
        "workers": args.workers, "runs": runs, "ready_s_median": ready, "goal_s": GOAL_S,
        "meets_goal": ready <= GOAL_S and all(r["valued_correctly"] for r in runs),
        "import_s_median": imports})


if __name__ == "__main__":
    main()
