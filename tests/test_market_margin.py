"""The market margin a model starts from, and the confidence a valuation states (core units)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from autovalue.confidence import ConfidenceJudge
from bento.explanation import Explainer
from bento.leaf_contributions import LeafContributions
from autovalue.market_margin import MarketMargin
from autovalue.model_bundle import ModelBundle
from autovalue.valuation import Confidence, Fallback
from training.margin import margin_spec, margins, model_inputs

FEATURES = ["model_ask_index_7d", "model_listings_7d", "model_ask_index_30d", "model_ask_index_90d",
            "brand_ask_index_30d", "brand_ask_index_90d", "segment_ask_index_30d", "segment_ask_index_90d",
            "age_years", "odometer_km"]


def frame(**columns) -> pd.DataFrame:
    base = {name: [np.nan] for name in FEATURES} | {"age_years": [2.0], "odometer_km": [50_000.0]}
    return pd.DataFrame(base | {k: [v] for k, v in columns.items()})


@pytest.mark.parametrize("columns, level", [
    ({"model_ask_index_7d": 19.0, "model_listings_7d": 12, "model_ask_index_30d": 18.0}, 19.0),
    ({"model_ask_index_7d": 19.0, "model_listings_7d": 9, "model_ask_index_30d": 18.0}, 18.0),  # too few
    ({"model_ask_index_90d": 17.5, "brand_ask_index_30d": 17.0}, 17.5),
    ({"brand_ask_index_30d": 17.0, "segment_ask_index_30d": 16.0}, 17.0),
    ({"segment_ask_index_90d": 16.5}, 16.5),
])
def test_the_finest_trusted_level_less_the_allowances(columns, level):
    spec = margin_spec(FEATURES, frame(segment_ask_index_30d=16.0))
    got = margins(spec, frame(**columns))[0]
    assert got == pytest.approx(level - 0.10 * 2.0 - 0.10 * 0.5)


def test_no_level_at_all_starts_from_the_training_median_and_no_index_no_margin():
    spec = margin_spec(FEATURES, pd.concat([frame(model_ask_index_30d=18.0), frame(model_ask_index_30d=20.0)]))
    assert margins(spec, frame())[0] == pytest.approx(19.0 - 0.25)
    assert margin_spec(["age_years", "odometer_km"], frame()) is None


def test_the_market_source_tells_the_trees_which_market_the_level_is():
    spec = margin_spec(FEATURES, frame(model_ask_index_30d=18.0))
    rows = pd.concat([frame(model_ask_index_30d=18.0), frame(brand_ask_index_90d=17.0),
                      frame(segment_ask_index_30d=16.0), frame()], ignore_index=True)
    features, with_source = model_inputs(spec, FEATURES, rows)
    assert features[-1] == "market_source" and with_source["market_source"].tolist() == [0, 1, 2, 3]
    bundle = ModelBundle(None, {"features": features, "market_margin": spec})
    assert bundle.row_features == FEATURES  # what rows bring; the bundle computes the source itself


def test_predictions_and_contributions_include_the_margin():
    rng = np.random.default_rng(0)
    rows = pd.DataFrame({name: rng.normal(18, 0.5, 400) for name in FEATURES})
    rows["model_listings_7d"] = rng.integers(0, 30, 400).astype(float)
    rows["age_years"], rows["odometer_km"] = rng.uniform(0, 10, 400), rng.uniform(0, 2e5, 400)
    rows.loc[rows.index % 5 == 0, ["model_ask_index_7d", "model_ask_index_30d", "model_ask_index_90d"]] = np.nan
    spec = margin_spec(FEATURES, rows)
    features, rows = model_inputs(spec, FEATURES, rows)
    offset = margins(spec, rows)
    y = offset + 0.3 * np.sin(rows["age_years"].to_numpy()) + rng.normal(0, 0.01, 400)
    booster = xgb.train({"max_depth": 3, "nthread": 1}, xgb.DMatrix(rows[features], label=y, base_margin=offset), 30)
    bundle = ModelBundle(booster, {"features": features, "categorical": {}, "market_margin": spec,
                                   "interval": {"lower_log_offset": -0.1, "upper_log_offset": 0.1}})
    matrix = bundle.encode(rows)
    predicted = bundle.predict_log(matrix)
    np.testing.assert_allclose(predicted, booster.predict(xgb.DMatrix(rows[features], base_margin=offset)), atol=1e-5)
    assert np.abs(predicted - y).mean() < 0.05  # the trees learnt only the deviation
    contributions = Explainer(bundle).contributions(matrix)
    np.testing.assert_allclose(contributions.sum(axis=1), predicted, atol=2e-5)
    # The level's distance from the training average counts for the level feature it came from.
    level_columns = [features.index(name) for name in spec_levels(spec)]
    assert np.abs(contributions[:, level_columns]).sum() > 0
    grouped = LeafContributions(booster, len(features)).projected(np.eye(len(features) + 1))
    np.testing.assert_allclose(Explainer(bundle).contributions(matrix, grouped), contributions, atol=1e-6)


def spec_levels(spec: dict) -> list[str]:
    return [level["index"] for level in spec["levels"]]


def test_margin_is_declared_by_name_and_refuses_unknown_features():
    with pytest.raises(KeyError):
        MarketMargin({"levels": [{"index": "nope"}], "age_feature": "age_years", "mileage_feature": "odometer_km",
                      "age_adjust": 0.1, "mileage_adjust": 0.1, "default_level": 0,
                      "center": {"level": 0, "age": 0, "km": 0}}, FEATURES)


class Car:
    def __init__(self, brand: str, model: str, year: int) -> None:
        self.brand, self.model, self.year = brand, model, year


KNOWN = {"features": ["model_ask_index_7d", "age_years"],
         "known_cars": {"model_years": {"daihatsu|ayla": [2013, 2026], "toyota|avanza": [2011, 2026]},
                        "brands": ["daihatsu", "toyota"], "km_per_year": [2_000.0, 40_000.0]}}


@pytest.mark.parametrize("car, key, brand, km, fallback, age, level, words", [
    (Car("Toyota", "Avanza", 2020), "toyota|avanza", "toyota", 12_000, Fallback.model, 60.0, Confidence.high, ""),
    (Car("Tesla", "Model 3", 2022), "tesla|model 3", "tesla", 12_000, Fallback.segment, 60.0, Confidence.low,
     "brand Tesla was not in the training data"),
    (Car("Toyota", "Neverheard", 2022), "toyota|neverheard", "toyota", 12_000, Fallback.brand, 60.0,
     Confidence.low, "Toyota Neverheard was not in the training data"),
    (Car("Daihatsu", "Ayla", 2012), "daihatsu|ayla", "daihatsu", 12_000, Fallback.model, 60.0, Confidence.low,
     "before the first known Daihatsu Ayla (2013)"),
    (Car("Toyota", "Avanza", 2020), "toyota|avanza", "toyota", 120_000, Fallback.model, 60.0, Confidence.medium,
     "mileage is unusual"),
    (Car("Toyota", "Avanza", 2020), "toyota|avanza", "toyota", 12_000, Fallback.brand, 60.0, Confidence.medium,
     "its brand's are used"),
    (Car("Toyota", "Avanza", 2020), "toyota|avanza", "toyota", 12_000, Fallback.model, 40 * 3600.0,
     Confidence.medium, "40 h old"),
])
def test_confidence_names_what_it_does_not_know(car, key, brand, km, fallback, age, level, words):
    levels, reasons = ConfidenceJudge(KNOWN, stale_after_s=30 * 3600).judge([car], [key], [brand], [km],
                                                                             [fallback], [age])
    assert levels == [level]
    assert (reasons == [[]]) if not words else any(words in reason for reason in reasons[0]), reasons


def test_a_model_without_market_features_is_not_judged_on_its_market():
    judge = ConfidenceJudge({**KNOWN, "features": ["age_years"]}, stale_after_s=30 * 3600)
    levels, _ = judge.judge([Car("Toyota", "Avanza", 2020)], ["toyota|avanza"], ["toyota"], [12_000],
                            [Fallback.none], [None])
    assert levels == [Confidence.high]
