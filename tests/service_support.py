"""Real parts for the service tests and the service benchmark: a small simulated market in a Feast
store, a small champion trained on it and saved in a BentoML model store, and a real
`autovalue serve` (= `bentoml serve`) process in its own process group.

The champion here stands in for the trainer's: the same bundle layout (model.ubj + metadata.json
via autovalue.model_bundle) in the same store entry (`<bento_model_name>:<version>`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

from autovalue.settings import Settings

REPO = Path(__file__).resolve().parents[1]
# A model key that the fixture market gets a stale row for (older than the views' TTL).
STALE_BRAND, STALE_MODEL = "Toyota", "Oldtimer"


def build_market(settings: Settings, listings: int = 20_000, seed: int = 11) -> None:
    """Simulated market ending today, its feature tables applied and materialized online."""
    from feature_repo.pipeline import build_features
    from market.generate import generate_market
    from market.io import read_source

    today = datetime.now(timezone.utc).date()
    generate_market(settings.raw_dir, listings, seed=seed, end=today, days=240, progress=False)
    build_features(settings, read_source(settings.raw_dir, "market"), progress=False)


def push_stale_model_row(settings: Settings, days_old: int = 60) -> None:
    """An online model-level row older than the TTL: Feast still returns it (TTL is not enforced
    online), the service must treat it as missing."""
    push_model_row(settings, STALE_BRAND, STALE_MODEL, days_old)


def push_model_row(settings: Settings, brand: str, model: str, days_old: float = 0) -> None:
    """One online model-level market row (every statistic 1.0) stamped `days_old` days ago."""
    import pandas as pd
    from feast.data_source import PushMode

    from autovalue.keys import model_key
    from feature_repo.config import feature_store
    from feature_repo.definitions import MODEL_PUSH_SOURCE

    store = feature_store(settings)
    view = store.get_feature_view("model_market")
    stamp = pd.Timestamp(datetime.now(timezone.utc) - timedelta(days=days_old))
    row = {field.name: [1.0] for field in view.schema if field.name != "model_key"}
    row.update(model_key=[model_key(brand, model)], event_timestamp=[stamp])
    store.push(MODEL_PUSH_SOURCE, pd.DataFrame(row), to=PushMode.ONLINE)


def train_champion(settings: Settings) -> dict:
    """The real trainer (training.pipeline) on the fixture market's point-in-time dataset: the
    champion the service loads is what `autovalue train` produces (margin, calibrated intervals
    per confidence level, deal bands). Returns its metadata."""
    from training.dataset import build_dataset
    from training.pipeline import train

    return train(settings, build_dataset(settings), progress=False).bundle.metadata


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {**os.environ, "AUTOVALUE_HOME": str(settings.home), "BENTOML_HOME": str(settings.bentoml_store),
           "BENTOML_DO_NOT_TRACK": "true", "OTEL_SDK_DISABLED": "true", "PYTHONUNBUFFERED": "1"}
    env.pop("AUTOVALUE_API_KEY", None)
    env.update(extra)
    return env


class ServerProcess:
    """`autovalue serve` in its own process group; stop() sends SIGTERM to the whole group
    (BentoML workers outlive a killed parent otherwise)."""

    def __init__(self, argv: list[str], env: dict[str, str], port: int, log_path: Path):
        self.argv, self.env, self.port, self.log_path = argv, env, port, log_path
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.ready_after: float | None = None

    def start(self, timeout: float = 60.0) -> "ServerProcess":
        self.log = open(self.log_path, "w")
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(self.argv, env=self.env, cwd=REPO, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = self.started_at + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited {self.process.returncode}:\n{self.log_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    self.ready_after = time.monotonic() - self.started_at
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready after {timeout} s:\n{self.log_text()[-3000:]}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None:
            return
        group = self.process.pid  # the session leader's pid is the group id
        # BentoML puts each worker in a process group of its own: remember them to check after.
        workers = _children(group)
        try:
            os.killpg(group, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (_group_alive(group) or any(_alive(w) for w in workers)):
            self.process.poll()
            time.sleep(0.1)
        if _group_alive(group):
            os.killpg(group, signal.SIGKILL)
        for worker in workers:
            if _alive(worker):
                os.kill(worker, signal.SIGKILL)
        self.process.wait(timeout=5)
        self.log.close()
        self.process = None

    def worker_pids(self) -> list[int]:
        return _children(self.process.pid) if self.process else []


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
        return True
    except ProcessLookupError:
        return False


def serve_command(port: int) -> list[str]:
    return [sys.executable, "-m", "autovalue_cli.main", "serve", "--port", str(port)]


def stop_process_group(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM to a child started with start_new_session=True (its whole group), SIGKILL if it lingers."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
