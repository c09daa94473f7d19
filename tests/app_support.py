"""Real parts for the app tests: a SQLite valuations database filled through autovalue.tables,
outcomes of known accuracy, a small simulated market with its Feast store, the dashboard's
environment, and running a page in AppTest or a process until it answers."""

from __future__ import annotations

import math
import os
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from autovalue.settings import QUIET_LIBRARIES, Settings
from autovalue.tables import connect, dead_letters, outcomes, valuations
from autovalue.valuation import deal_rating
from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[1]
APP_DIR = REPO / "app"
DEAD_LETTER_REASONS = ["year: model year 2031 is after the listing date 2026-01-01",
                       "mileage_km: Input should be greater than or equal to 0", "not JSON: Expecting value"]


def nothing_at() -> str:
    return f"127.0.0.1:{free_port()}"  # a port nobody listens on: the part is "down"


def new_stack(home: Path) -> tuple[Settings, pd.DataFrame, pd.DataFrame]:
    """Home with a small market and its Feast store, 400 stored valuations and 7 dead letters,
    and two models in MLflow (champion v2). Service and broker are down (nothing listens there)."""
    settings = Settings(home=home, service_url=f"http://{nothing_at()}", kafka_bootstrap=nothing_at())
    market = build_market(settings)
    stored = fill_database(settings.database, market)
    record_models(settings)
    return settings, market, stored


def run(page: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP_DIR / "screens" / f"{page}.py"), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at, kind: str) -> str:
    return "\n".join(str(element.value) for element in getattr(at, kind))


def metrics(at) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def wait_for(url: str, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args} exited with {process.returncode}"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready after {timeout_s} s")


def build_market(settings: Settings, listings: int = 3000, days: int = 60) -> pd.DataFrame:
    """A small simulated market ending today, with its feature tables applied and materialized."""
    from feature_repo.pipeline import build_features
    from market.generate import generate_market
    from market.io import read_source

    generate_market(settings.raw_dir, listings, seed=7, end=datetime.now(timezone.utc).date(), days=days,
                    progress=False)
    raw = read_source(settings.raw_dir, settings.market_source)
    build_features(settings, raw, progress=False)
    return raw


def fill_database(url: str, market: pd.DataFrame, rows: int = 400, seed: int = 3,
                  model_version: str = "v2") -> pd.DataFrame:
    """`rows` valuations of listings drawn from `market`, stored over the last 8 minutes, plus
    dead letters; estimates scatter around the asking price so every deal rating occurs."""
    rng = np.random.default_rng(seed)
    sample = market.dropna(subset=["asking_price"]).sample(rows, random_state=seed).reset_index(drop=True)
    now = datetime.now(timezone.utc)
    records = []
    for i, car in sample.iterrows():
        stored = now - timedelta(seconds=float(rng.uniform(1, 480)))
        asking = float(car["asking_price"])
        predicted = asking * float(rng.uniform(0.8, 1.2))
        low, high = predicted * 0.9, predicted * 1.1
        records.append({
            "listing_id": f"test-{i:05d}", "listed_at": stored - timedelta(seconds=2), "brand": car["brand"],
            "model": car["model"], "year": int(car["year"]), "mileage": float(car["mileage_km"]),
            "fuel": car["fuel"], "transmission": car["transmission"], "body_type": car["body_type"],
            "region": car["region"], "seller_type": car["seller_type"], "asking_price": asking,
            "predicted_price": predicted, "price_low": low, "price_high": high,
            "deal_rating": deal_rating(asking, predicted, [math.log(0.9), math.log(0.95), math.log(1.05),
                                                           math.log(1.1)]).value, "fallback": "model",
            "model_version": model_version, "feature_service": "valuation_v1",
            "produced_at": stored - timedelta(seconds=float(rng.uniform(0.02, 0.4))), "scored_at": stored,
            "created_at": stored,
        })
    engine = connect(url)
    with engine.begin() as connection:
        connection.execute(valuations.insert(), records)
        connection.execute(dead_letters.insert(), [
            {"topic": "listings", "partition": 0, "offset": i, "listing_id": None,
             "reason": DEAD_LETTER_REASONS[i % 3], "payload": "{}", "created_at": now} for i in range(7)])
    engine.dispose()
    return pd.DataFrame(records)


# (brand, model, sales, sold / estimate, deal rating): 120 Avanzas sold 5% over their estimate
# (flagged: >= 50 sales, outside +-3%), 60 Brios 1% under (inside +-3%), 10 Xenias 10% under
# (outside the interval, too few sales to flag); 20 withdrawn Avanzas without an asking price.
OUTCOME_GROUPS = [("Toyota", "Avanza", 120, 1.05, "fair"), ("Honda", "Brio", 60, 0.99, "good"),
                  ("Daihatsu", "Xenia", 10, 0.90, "great")]
OUTCOME_WITHDRAWN = 20
# What the page must show for them: MAPE (120 x 5% + 60 x 1% + 10 x 10%) / 190 = 4.0%,
# coverage (interval +-8%) 180 / 190 = 94.7%.
OUTCOME_FIGURES = {"Outcomes": "210", "Sales judged": "190", "Live MAPE": "4.0%", "80% interval coverage": "94.7%"}


def fill_outcomes(url: str) -> None:
    """Outcomes joined to their valuations, known within the last 5 minutes (OUTCOME_GROUPS)."""
    rng = np.random.default_rng(1)
    now = datetime.now(timezone.utc)
    rows = []

    def add(brand: str, model: str, sold: float | None, rating: str | None) -> None:
        predicted, low, high = 100e6, 92e6, 108e6
        error = None if sold is None else sold / predicted - 1
        rows.append({
            "listing_id": f"out-{len(rows):05d}", "outcome": "withdrawn" if sold is None else "sold",
            "sold_price": sold, "days_on_market": float(rng.uniform(1, 60)),
            "outcome_at": now - timedelta(seconds=float(rng.uniform(5, 290))), "valuation_id": len(rows) + 1,
            "brand": brand, "model": model, "model_version": "v2", "predicted_price": predicted,
            "price_low": low, "price_high": high, "asking_price": None if rating is None else 101e6,
            "deal_rating": rating, "realized_error": error, "abs_pct_error": None if error is None else abs(error),
            "inside_interval": None if sold is None else bool(low <= sold <= high), "stored_at": now})

    for brand, model, sales, ratio, rating in OUTCOME_GROUPS:
        for _ in range(sales):
            add(brand, model, 100e6 * ratio, rating)
    for _ in range(OUTCOME_WITHDRAWN):
        add("Toyota", "Avanza", None, None)
    engine = connect(url)
    with engine.begin() as connection:
        connection.execute(outcomes.insert(), rows)
    engine.dispose()


def dashboard_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """AUTOVALUE_* for a dashboard reading `settings` (AppTest runs in this process, so the
    tests set these in os.environ; a streamlit process gets them as its environment)."""
    env = {
        "AUTOVALUE_HOME": str(settings.home), "AUTOVALUE_DATABASE_URL": settings.database,
        "AUTOVALUE_SERVICE_URL": settings.service_url, "AUTOVALUE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "AUTOVALUE_MLFLOW_TRACKING_URI": settings.mlflow_uri,
        **QUIET_LIBRARIES,
    }
    env.update(overrides)
    return env


def set_env(values: dict[str, str], monkeypatch) -> None:
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    os.environ.pop("AUTOVALUE_API_KEY", None)


def record_models(settings: Settings) -> None:
    """Two models from the real trainer on the stack's market, recorded as `autovalue train` records
    them: v1 on a fifth of its listings, then v2 on all of them, which the champion gate promotes
    over v1 by itself (v1 re-scored on v2's holdout), so models/champion.json and the alias say v2."""
    from training.dataset import build_dataset
    from training.pipeline import train

    first = train(settings, build_dataset(settings, limit=600), progress=False)
    second = train(settings, build_dataset(settings), progress=False)
    assert first.decision.promote and second.decision.promote, (first.decision, second.decision)
