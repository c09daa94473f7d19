"""Small, fast checks of the training building blocks and commands."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from autovalue.settings import Settings, get_settings
from training.candidates import categorical_levels, recency_weights, train_xgboost, xgboost_frame
from training.conformal import interval_offsets
from training.dataset import TrainingData
from training.dataset_files import load_dataset, save_dataset
from training.fingerprint import data_fingerprint, feature_service_version
from training.pipeline import train
from training.splits import make_split
from tests.training_data import market_training_data


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> TrainingData:
    return market_training_data(Settings(home=tmp_path_factory.mktemp("tiny")), 12_000, seed=11)


def test_time_split_trains_on_the_past_and_holds_out_the_most_recent(tiny):
    frame = tiny.frame.sample(frac=1.0, random_state=0).reset_index(drop=True)  # order must not matter
    split = make_split(frame, "time", 0.15, 0.15, 0.1, seed=1)
    ts = frame["event_timestamp"]
    assert ts.iloc[split.train].max() <= ts.iloc[split.early_stopping].min()
    assert ts.iloc[split.early_stopping].max() <= ts.iloc[split.calibration].min()
    assert ts.iloc[split.calibration].max() <= ts.iloc[split.holdout].min()
    parts = np.concatenate([split.train, split.early_stopping, split.calibration, split.holdout])
    assert sorted(parts) == list(range(len(frame)))
    assert abs(len(split.holdout) / len(frame) - 0.15) < 0.01


def test_random_split_is_seeded_and_works_without_dates(tiny):
    frame = tiny.frame.assign(event_timestamp=pd.NaT)
    a = make_split(frame, "random", 0.15, 0.15, 0.1, seed=5)
    b = make_split(frame, "random", 0.15, 0.15, 0.1, seed=5)
    c = make_split(frame, "random", 0.15, 0.15, 0.1, seed=6)
    assert np.array_equal(a.holdout, b.holdout) and not np.array_equal(a.holdout, c.holdout)
    with pytest.raises(ValueError, match="split random"):
        make_split(frame, "time", 0.15, 0.15, 0.1, seed=5)


def test_undated_data_refuses_a_time_split(tiny, tmp_path):
    undated = TrainingData(tiny.frame.assign(event_timestamp=pd.NaT), tiny.features, tiny.categorical,
                           tiny.feature_service, "undated", has_dates=False)
    with pytest.raises(ValueError, match="--split random"):
        train(Settings(home=tmp_path), undated, split="time", progress=False)


def test_conformal_offsets_cover_the_requested_share():
    rng = np.random.default_rng(0)
    calibration, future = rng.normal(0, 0.1, 5000), rng.normal(0, 0.1, 50_000)
    offsets = interval_offsets(calibration, np.zeros_like(calibration), 0.8)
    inside = (future >= offsets["lower_log_offset"]) & (future <= offsets["upper_log_offset"])
    assert 0.79 <= inside.mean() <= 0.81
    assert offsets["lower_log_offset"] == pytest.approx(-0.128, abs=0.01)


def test_categorical_codes_follow_price_and_unseen_levels_are_missing():
    frame = pd.DataFrame({"model": ["Dear", "Cheap", "Mid", "Cheap", None]})
    y_log = np.array([20.0, 10.0, 15.0, 11.0, 30.0])
    levels = categorical_levels(frame, ["model"], y_log)
    assert levels == {"model": ["Cheap", "Mid", "Dear"]}
    assert categorical_levels(frame, ["model"]) == {"model": ["Cheap", "Dear", "Mid"]}
    codes = xgboost_frame(pd.DataFrame({"model": ["Mid", None, "Later"]}), ["model"], levels)["model"]
    assert codes.iloc[0] == 1.0 and codes.iloc[1:].isna().all()


def test_fingerprint_changes_with_the_data_and_only_then(tiny):
    same = TrainingData(tiny.frame.copy(), list(tiny.features), list(tiny.categorical), tiny.feature_service,
                        tiny.source, tiny.has_dates)
    assert data_fingerprint(same) == data_fingerprint(tiny)
    changed = same.frame.copy()
    changed.loc[0, "label"] += 1
    assert data_fingerprint(TrainingData(changed, same.features, same.categorical, same.feature_service,
                                         same.source, True)) != data_fingerprint(tiny)
    assert feature_service_version("valuation_v3") == 3 and feature_service_version("valuation") is None


def test_xgboost_training_is_reproducible(tiny, tmp_path):
    settings = Settings(home=tmp_path, xgb_max_rounds=60)
    frame = tiny.frame
    levels = categorical_levels(frame, tiny.categorical)
    x = xgboost_frame(frame, tiny.features, levels)
    y = np.log(frame["label"].to_numpy())
    a = train_xgboost(settings, 7, x.iloc[:8000], y[:8000], x.iloc[8000:], y[8000:])
    b = train_xgboost(settings, 7, x.iloc[:8000], y[:8000], x.iloc[8000:], y[8000:])
    assert bytes(a.save_raw("ubj")) == bytes(b.save_raw("ubj"))


def test_stored_dataset_round_trip(tiny, tmp_path):
    loaded = load_dataset(save_dataset(tiny, tmp_path / "ds.parquet"))
    pd.testing.assert_frame_equal(loaded.frame, tiny.frame)
    assert (loaded.features, loaded.categorical, loaded.noise_floor_mape) == \
           (tiny.features, tiny.categorical, tiny.noise_floor_mape)


def test_train_and_report_commands(tiny, tmp_path, monkeypatch, capsys):
    from autovalue_cli.main import main

    save_dataset(tiny, tmp_path / "ds.parquet")
    monkeypatch.setenv("AUTOVALUE_HOME", str(tmp_path))
    monkeypatch.setenv("AUTOVALUE_XGB_MAX_ROUNDS", "100")
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "data" / "bentoml"))
    get_settings.cache_clear()
    try:
        assert main(["report"]) == 2  # no champion yet: a clear error, not a traceback
        assert "run `autovalue train` first" in capsys.readouterr().err
        assert main(["train", "--dataset", str(tmp_path / "ds.parquet"), "--split", "random", "--quiet"]) == 0
        out = capsys.readouterr().out
        assert "v1:" in out and "champion: promoted" in out
        assert main(["report"]) == 0
        card = capsys.readouterr().out
    finally:
        get_settings.cache_clear()
    assert "# Model card: autovalue-price v1" in card and "| xgboost |" in card
    report_dir = tmp_path / "reports" / "v1"
    assert (report_dir / "model_card.md").is_file()
    assert (report_dir / "predicted_vs_actual.png").stat().st_size > 10_000


def test_recency_weights_halve_each_half_life_and_are_off_by_default(tmp_path):
    rows = pd.DataFrame({"event_timestamp": pd.to_datetime(["2026-01-31", "2026-01-01", "2025-12-02"], utc=True)})
    assert recency_weights(Settings(home=tmp_path), rows) is None
    weights = recency_weights(Settings(home=tmp_path, train_recency_half_life_days=30), rows)
    np.testing.assert_allclose(weights, [1.0, 0.5, 0.25])
    assert recency_weights(Settings(home=tmp_path, train_recency_half_life_days=30), rows.drop(columns="event_timestamp")) is None
