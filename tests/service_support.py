"""Real parts for the tests that need a valuation service: a small simulated market in a Feast
store, a small champion trained on it and saved in a BentoML model store, and the environment of a
real `autovalue serve` (= `bentoml serve`) process.

The service process itself is deploy.processes.ServerProcess, shared with the benchmarks.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

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
    env = {**os.environ, "AUTOVALUE_HOME": str(settings.home), **settings.library_environment(), "PYTHONUNBUFFERED": "1"}
    env.pop("AUTOVALUE_API_KEY", None)
    env.update(extra)
    return env
