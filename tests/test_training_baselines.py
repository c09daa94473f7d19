"""A champion trained without baselines (`autovalue demo`'s first) is the same model, and the
baselines fitted on its run afterwards are the ones `autovalue train` would have fitted:
real trainer, real MLflow (SQLite in tmp_path), a small simulated market."""

from __future__ import annotations

import os

import pytest

from autovalue.settings import Settings
from training.baselines import NAMES, NotApplicable, add_to_champion, missing_baselines
from training.pipeline import train
from training.tracking import mlflow_client
from tests.training_data import market_training_data

pytestmark = pytest.mark.slow

SMALL = {"listings": 20_000, "seed": 5, "days": 365}


def _settings(home) -> Settings:
    settings = Settings(home=home, rf_trees=20)
    os.environ.setdefault("BENTOML_HOME", str(settings.bentoml_store))
    return settings


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return market_training_data(Settings(home=tmp_path_factory.mktemp("market")), SMALL["listings"], SMALL["seed"],
                                SMALL["days"])


def test_baselines_fitted_later_equal_those_of_a_full_run(tmp_path, data):
    full = train(_settings(tmp_path / "full"), data, progress=False)
    demo_settings = _settings(tmp_path / "demo")
    first = train(demo_settings, data, progress=False, baselines=False)

    # The champion is the same model: the baselines never touch XGBoost or the decision.
    assert first.promoted and first.decision.reason == "no champion yet"
    assert first.metrics["xgboost"] == pytest.approx(full.metrics["xgboost"])
    assert set(first.metrics) == {"xgboost"}
    client = mlflow_client(demo_settings)
    run = client.get_run(first.run_id)
    assert not any(key.startswith(NAMES) for key in run.data.metrics)
    assert run.data.tags["baselines"] == "not fitted in this run"

    assert missing_baselines(demo_settings) == ("v1", first.run_id)
    later = add_to_champion(demo_settings, data)
    assert set(later) == set(NAMES)
    for name in NAMES:
        assert later[name] == pytest.approx(full.metrics[name])
    logged = client.get_run(first.run_id).data.metrics
    assert logged["linear_regression_mape"] == pytest.approx(full.metrics["linear_regression"]["mape"])
    assert logged["random_forest_r2"] == pytest.approx(full.metrics["random_forest"]["r2"])
    assert missing_baselines(demo_settings) is None


def test_baselines_are_not_fitted_on_other_data(tmp_path, data):
    settings = _settings(tmp_path)
    with pytest.raises(NotApplicable, match="no champion yet"):
        missing_baselines(settings)
    train(settings, data, progress=False, baselines=False)
    fewer = data.__class__(**{**data.__dict__, "frame": data.frame.iloc[:-100]})
    with pytest.raises(NotApplicable, match="differs from what champion v1 was trained on"):
        add_to_champion(settings, fewer)
