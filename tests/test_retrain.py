"""`autovalue retrain` end to end with real parts: a small simulated market in a Feast store, a
champion from the real trainer, a stream of the market moving on past its history written to a
real SQLite database through the real tables (valuations and their outcomes), then retrains
through the real feature pipeline, trainer, MLflow and BentoML store."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from autovalue.champion_pointer import read_champion
from autovalue.settings import Settings
from autovalue.tables import connect, outcomes, valuations
from training.retrain import Retrained, retrain
from training.tracking import CHAMPION, mlflow_client

SEED, HISTORY_DAYS, STREAM_DAYS, PER_DAY = 11, 200, 30, 110

# The loop trains a champion and two challengers on a 6,000-listing market (CONTRIBUTING.md: slow).
pytestmark = pytest.mark.slow


@dataclass
class Loop:
    settings: Settings
    weak: Settings
    promoted: Retrained  # a challenger against a weak champion
    kept: Retrained  # a weak challenger against the promoted one


def stream_into_database(settings: Settings, end) -> int:
    """Listings drawn from the market moving on past its history (market.forward), each valued
    once and its outcome stored when it fell due before now; returns the sales stored."""
    from market.forward import ForwardMarket
    from market.simulator import MarketSimulator

    market = ForwardMarket(MarketSimulator(seed=SEED, end=end, days=HISTORY_DAYS))
    rng = np.random.default_rng(5)
    now = datetime.now(timezone.utc)
    start = datetime(end.year, end.month, end.day, tzinfo=timezone.utc) + timedelta(days=1)
    rows, landed = [], []
    for day in range(STREAM_DAYS):
        frame = market.listings(PER_DAY, rng, day, id_prefix="live", id_offset=day * PER_DAY)
        for row in frame.to_dict("records"):
            listed_at = start + timedelta(days=day, seconds=float(rng.uniform(0, 86_000)))
            rows.append({"listing_id": row["listing_id"], "listed_at": listed_at, "brand": row["brand"],
                         "model": row["model"], "year": int(row["year"]), "mileage": row["mileage_km"],
                         "fuel": row["fuel"], "transmission": row["transmission"], "body_type": row["body_type"],
                         "region": row["region"], "seller_type": row["seller_type"],
                         "asking_price": row["asking_price"], "predicted_price": row["asking_price"],
                         "model_version": "v1", "feature_service": "valuation_v1", "created_at": listed_at})
            outcome_at = listed_at + timedelta(days=float(row["days_on_market"]))
            if outcome_at <= now:
                sold = not np.isnan(row["sold_price"])
                landed.append({"listing_id": row["listing_id"], "outcome": "sold" if sold else "withdrawn",
                               "sold_price": float(row["sold_price"]) if sold else None,
                               "days_on_market": float(row["days_on_market"]), "outcome_at": outcome_at,
                               "stored_at": outcome_at})
    with connect(settings.database).begin() as connection:
        connection.execute(valuations.insert(), rows)
        connection.execute(outcomes.insert(), landed)
    return sum(1 for o in landed if o["outcome"] == "sold")


@pytest.fixture(scope="module")
def loop(tmp_path_factory) -> Loop:
    from feature_repo.pipeline import build_features
    from market.generate import generate_market
    from market.io import read_source
    from training.dataset import build_dataset
    from training.pipeline import train

    home = tmp_path_factory.mktemp("retrain")
    settings = Settings(home=home, retrain_min_outcomes=500)
    os.environ.setdefault("BENTOML_HOME", str(settings.bentoml_store))
    weak = settings.model_copy(update={"xgb_max_rounds": 5})
    end = (datetime.now(timezone.utc) - timedelta(days=STREAM_DAYS + 1)).date()
    generate_market(settings.raw_dir, 6_000, seed=SEED, end=end, days=HISTORY_DAYS, progress=False)
    build_features(settings, read_source(settings.raw_dir, "market"), progress=False)
    first = train(weak, build_dataset(settings), progress=False, baselines=False)
    assert first.promoted and read_champion(settings.models_dir) == "v1"
    assert stream_into_database(settings, end) >= settings.retrain_min_outcomes
    promoted = retrain(settings)
    kept = retrain(weak)
    print(f"\n{promoted.line()}\n{kept.line()}")  # what `autovalue retrain` prints (pytest -s shows it)
    return Loop(settings, weak, promoted, kept)


def test_a_better_challenger_is_promoted_once(loop):
    result, judgement = loop.promoted, loop.promoted.judgement
    assert result.challenger == "v2" and judgement.champion == "v1"
    assert judgement.promote and judgement.challenger_mape < judgement.champion_mape
    assert judgement.rows > 100  # the newest streamed sales, which the champion never saw
    assert result.history.sold >= loop.settings.retrain_min_outcomes
    line = result.line()
    assert f"{judgement.challenger_mape:.2%}" in line and f"{judgement.champion_mape:.2%}" in line
    assert "promoted" in line


def test_a_worse_challenger_leaves_the_champion(loop):
    judgement = loop.kept.judgement
    assert loop.kept.challenger == "v3" and judgement.champion == "v2"
    assert not judgement.promote and "not clearly better" in judgement.reason
    assert read_champion(loop.settings.models_dir) == "v2"
    client = mlflow_client(loop.settings)
    assert str(client.get_model_version_by_alias(loop.settings.mlflow_model_name, CHAMPION).version) == "2"
    assert "kept v2" in loop.kept.line()


def test_the_decision_is_on_the_challengers_run(loop):
    client = mlflow_client(loop.settings)
    for result in (loop.promoted, loop.kept):
        run = client.get_run(result.run_id)
        j = result.judgement
        assert run.data.tags["promoted"] == str(j.promote).lower()
        assert run.data.tags["compared_with"] == j.champion
        assert run.data.metrics["challenger_mape"] == pytest.approx(j.challenger_mape)
        assert run.data.metrics["champion_mape"] == pytest.approx(j.champion_mape)
        assert run.data.metrics["compared_sales"] == j.rows


def test_the_landed_history_holds_the_market_and_the_stream(loop):
    from market.io import read_meta, read_source

    landed = read_source(loop.settings.raw_dir, "landed")
    market = read_source(loop.settings.raw_dir, "market")
    history = loop.kept.history
    assert len(landed) == len(market) + history.streamed
    assert landed["listing_id"].str.startswith("live-").sum() == history.streamed
    assert read_meta(loop.settings.raw_dir, "landed")["noise_floor_mape"] == read_meta(
        loop.settings.raw_dir, "market")["noise_floor_mape"]
    # The challengers learnt from the landed history under the market's own feature service: the
    # one the market feed keeps fresh, so a promoted challenger is served like the champion was.
    challenger = pd.read_json(loop.settings.models_dir / "v2" / "metadata.json", typ="series")
    assert (challenger["source"], challenger["feature_service"]) == ("market", "valuation_v1")


def test_only_a_clear_gain_promotes():
    """The 0.01-point gain a shifted stream gave (8.30% against 8.31%) is noise; a steady one is not."""
    from training.retrain import gain_lower_bound

    rng = np.random.default_rng(0)
    champion = np.abs(rng.normal(0, 0.1, 2_000))
    assert gain_lower_bound(champion - (champion - 0.0001 + rng.normal(0, 0.02, 2_000))) < 0
    assert gain_lower_bound(champion - champion * 0.9) > 0


def test_the_schedule_retrains_every_interval_and_waits_out_too_few_sales():
    from threading import Event

    from autovalue.settings import Settings
    from training.retrain import TooFewOutcomes
    from training.retrain_schedule import interval_s, retrain_on_schedule

    class Ticks(Event):
        """Each wait is one interval gone by, at once; the third one is asked to stop."""
        def __init__(self) -> None:
            super().__init__()
            self.waited: list[float] = []

        def wait(self, timeout=None) -> bool:
            self.waited.append(timeout)
            return len(self.waited) > 2

    class Done:
        def line(self) -> str:
            return "challenger v2 promoted"

    outcomes = iter([TooFewOutcomes("12 streamed sales have landed, a retrain needs at least 500"), Done()])

    def run(_settings):
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    settings, said, ticks = Settings(market_days_per_minute=10), [], Ticks()
    assert retrain_on_schedule(settings, 7, ticks, run=run, say=said.append) == 1
    assert ticks.waited == [interval_s(settings, 7)] * 3 and interval_s(settings, 7) == 42.0
    assert said[1] == "retrain: not yet: 12 streamed sales have landed, a retrain needs at least 500"
    assert said[2] == "challenger v2 promoted"
