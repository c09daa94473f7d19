"""The training pipeline end to end on a small simulated market through the real feature pipeline, against real MLflow (SQLite in
tmp_path) and a real BentoML model store: quality bars, champion alias, export round trip."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from autovalue.model_bundle import ModelBundle
from autovalue.settings import Settings
from training.candidates import xgboost_frame
from training.dataset import TrainingData
from training.export import load_from_bento_store, load_from_models_dir
from training.margin import margins, model_inputs
from training.pipeline import TrainingResult, train
from training.tracking import CHAMPION, mlflow_client
from tests.training_data import market_training_data

pytestmark = pytest.mark.slow

# Dense enough (one year, 60k listings) for per-model market medians to follow the market shocks.
SMALL_MARKET = {"listings": 60_000, "days": 365, "seed": 3}


@dataclass
class Trained:
    settings: Settings
    data: TrainingData
    weak: TrainingResult  # first: becomes champion because there is none
    strong: TrainingResult  # default settings: beats the weak champion
    weak_again: TrainingResult  # worse than the champion: must not move the alias


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Trained:
    home = tmp_path_factory.mktemp("training")
    settings = Settings(home=home)
    os.environ.setdefault("BENTOML_HOME", str(settings.bentoml_store))
    data = market_training_data(settings, SMALL_MARKET["listings"], SMALL_MARKET["seed"], SMALL_MARKET["days"])
    weak_settings = settings.model_copy(update={"xgb_max_rounds": 5, "rf_trees": 5})
    weak = train(weak_settings, data, progress=False)
    strong = train(settings, data, progress=False)
    weak_again = train(weak_settings, data, progress=False)
    return Trained(settings, data, weak, strong, weak_again)


def test_quality_bars_on_small_market(trained):
    metrics = trained.strong.metrics
    xgb_m = metrics["xgboost"]
    floor = trained.data.noise_floor_mape
    summary = {name: round(m["mape"], 4) for name, m in metrics.items()} | {
        "noise_floor": round(floor, 4), "coverage": round(xgb_m["interval_coverage"], 4)}
    assert xgb_m["mape"] <= 1.15 * floor, summary
    assert xgb_m["mape"] < metrics["linear_regression"]["mape"], summary
    assert xgb_m["mape"] < metrics["random_forest"]["mape"], summary
    assert 0.78 <= xgb_m["interval_coverage"] <= 0.82, summary
    assert xgb_m["r2"] > metrics["linear_regression"]["r2"]


def test_champion_alias_moves_only_to_a_better_model(trained):
    assert [r.version for r in (trained.weak, trained.strong, trained.weak_again)] == ["v1", "v2", "v3"]
    assert trained.weak.promoted and trained.weak.decision.reason == "no champion yet"
    assert trained.strong.promoted and trained.strong.decision.champion == "v1"
    assert not trained.weak_again.promoted
    assert trained.weak_again.decision.champion == "v2"
    # The champion was re-scored on the candidate's holdout: the same number the strong run measured.
    assert trained.weak_again.decision.champion_mape == pytest.approx(trained.strong.metrics["xgboost"]["mape"])
    client = mlflow_client(trained.settings)
    current = client.get_model_version_by_alias(trained.settings.mlflow_model_name, CHAMPION)
    assert str(current.version) == "2"
    assert client.get_run(trained.weak_again.run_id).data.tags["promoted"] == "false"


def test_mlflow_run_has_lineage_metrics_plots_and_model(trained):
    client = mlflow_client(trained.settings)
    run = client.get_run(trained.strong.run_id)
    assert run.data.params["feature_service"] == trained.data.feature_service
    assert run.data.params["feature_service_version"] == "1"
    assert run.data.params["data_fingerprint"].startswith("sha256:")
    assert run.data.params["split"] == "time"
    for name in ("xgboost_mape", "xgboost_median_ape", "xgboost_r2", "xgboost_mae", "xgboost_interval_coverage",
                 "xgboost_interval_mean_width", "linear_regression_mape", "random_forest_mape"):
        assert name in run.data.metrics
    plots = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"predicted_vs_actual.png", "residuals_by_age_years.png", "residuals_by_odometer_km.png",
            "feature_importance.png"} <= plots
    bundle_files = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "bundle")}
    assert bundle_files == {"model.ubj", "metadata.json"}
    registered = client.get_model_version(trained.settings.mlflow_model_name, "2")
    assert registered.run_id == run.info.run_id
    # One model artefact: the registered version is the run's bundle; no second copy of the model.
    assert registered.source == f"runs:/{run.info.run_id}/bundle"
    assert {Path(a.path).name for a in client.list_artifacts(run.info.run_id)} == {"bundle", "plots", "split.json"}
    # The embedded default keeps artifacts in the project folder, next to mlflow.db.
    assert (trained.settings.home / "mlflow.db").is_file()
    assert any((trained.settings.home / "mlartifacts").rglob("model.ubj"))


def test_export_round_trip_gives_identical_predictions(trained):
    result = trained.strong
    holdout = trained.data.frame.tail(500)
    matrix = result.bundle.encode(holdout)
    expected = result.bundle.predict(matrix)
    for loaded in (load_from_models_dir(trained.settings, "v2"), load_from_bento_store(trained.settings, "v2")):
        assert loaded.version == "v2"
        assert loaded.features == result.bundle.features and loaded.row_features == trained.data.features
        got = loaded.predict(loaded.encode(holdout))
        for a, b in zip(expected, got):
            np.testing.assert_array_equal(a, b)
    meta = result.bundle.metadata
    assert {"lower_log_offset", "upper_log_offset"} <= meta["interval"].keys()
    assert meta["interval"]["lower_log_offset"] < 0 < meta["interval"]["upper_log_offset"]
    assert meta["data_fingerprint"] == trained.weak.bundle.metadata["data_fingerprint"]
    assert meta["feature_service"] == trained.data.feature_service
    for forbidden in ("*.pkl", "*.pickle", "*.joblib"):
        assert not list(trained.settings.home.rglob(forbidden))


def test_bundle_encode_reproduces_training_predictions_exactly(trained):
    """The service's path (encode -> float32 -> inplace_predict) equals training's (pandas
    categoricals, the margin as XGBoost's base margin), from a frame and from a dict alike."""
    bundle = trained.strong.bundle
    frame = trained.data.frame.sample(2000, random_state=1)
    frame.loc[frame.index[:5], "car_model"] = "Unseen Model"  # unseen levels must behave the same too
    frame.loc[frame.index[5:10], "odometer_km"] = np.nan
    # Training's path: the market source column and the market margin as XGBoost's base margin.
    spec = bundle.metadata["market_margin"]
    features, inputs = model_inputs(spec, trained.data.features, frame)
    training_path = bundle.booster.predict(xgb.DMatrix(xgboost_frame(inputs, features, bundle.categorical),
                                                       base_margin=margins(spec, inputs), enable_categorical=True))
    from_frame = bundle.predict_log(bundle.encode(frame))
    as_dict = {name: frame[name].astype(object).where(frame[name].notna(), None).tolist() for name in bundle.row_features}
    from_dict = bundle.predict_log(bundle.encode(as_dict))
    # The margin is added in another order than in training: equal to float32 rounding (one ulp).
    np.testing.assert_allclose(from_frame, training_path, rtol=1e-6, atol=0)
    np.testing.assert_array_equal(from_frame, from_dict)


def test_bundles_load_without_pickle_and_carry_plots(trained):
    directory = trained.settings.models_dir / "v2"
    assert sorted(p.name for p in directory.iterdir()) == ["metadata.json", "model.ubj", "plots"]
    bundle = ModelBundle.load(directory)
    assert bundle.metadata["mlflow_run_id"] == trained.strong.run_id
    assert bundle.metadata["registered_model"] == {"name": trained.settings.mlflow_model_name, "version": "2"}
