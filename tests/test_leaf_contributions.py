"""The per-leaf lookup of Saabas contributions equals XGBoost's own approx_contribs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from autovalue.model_bundle import ModelBundle
from bento.explanation import Explainer


def _bundle(native: bool, rounds: int = 40, depth: int = 5, base_score: float | None = None) -> tuple:
    rng = np.random.default_rng(3)
    n = 3000
    x = pd.DataFrame({"mileage": rng.uniform(0, 2e5, n), "age": rng.uniform(0, 20, n),
                      "brand": rng.integers(0, 6, n).astype("float32")})
    x.loc[rng.random(n) < 0.1, "age"] = np.nan  # missing values take the default branch
    y = 18 - x["mileage"] / 1e5 - 0.05 * x["age"].fillna(8) + 0.2 * x["brand"] + rng.normal(0, 0.1, n)
    types = ["q", "q", "c" if native else "q"]
    matrix = x.to_numpy(dtype=np.float32)
    params = {"max_depth": depth, "eta": 0.1, "subsample": 0.8, "seed": 1, "nthread": 1}
    if base_score is not None:
        params["base_score"] = base_score
    if native:
        params["max_cat_to_onehot"] = 1
    dtrain = xgb.DMatrix(matrix, label=y, feature_names=list(x.columns), feature_types=types, enable_categorical=True)
    booster = xgb.train(params, dtrain, rounds)
    metadata = {"version": "t", "features": list(x.columns),
                "categorical": {"brand": [str(i) for i in range(6)]} if native else {},
                "interval": {"lower_log_offset": -0.1, "upper_log_offset": 0.1}}
    return ModelBundle(booster, metadata), matrix


@pytest.mark.parametrize("native", [False, True])
@pytest.mark.parametrize("base_score", [None, 3.0])
def test_leaf_lookup_equals_xgboost_approx_contributions(native, base_score):
    bundle, matrix = _bundle(native, base_score=base_score)
    dmatrix = xgb.DMatrix(matrix, feature_names=bundle.features, feature_types=bundle.feature_types,
                          enable_categorical=True)
    expected = bundle.booster.predict(dmatrix, pred_contribs=True, approx_contribs=True)
    explainer = Explainer(bundle)
    got = explainer.contributions(matrix)
    np.testing.assert_allclose(got, expected, atol=2e-5)
    price, low, high, contributions = explainer.explain(matrix[:7])
    np.testing.assert_allclose(np.log(price), bundle.predict_log(matrix[:7]), atol=2e-5)
    np.testing.assert_allclose(contributions, expected[:7], atol=2e-5)
    assert (low < price).all() and (price < high).all()


def test_one_row_and_threads_give_the_same_contributions():
    bundle, matrix = _bundle(native=False, rounds=60, depth=6)
    explainer = Explainer(bundle)
    many = explainer.with_threads(2).contributions(matrix)
    np.testing.assert_allclose(explainer.contributions(matrix[5:6]), many[5:6], atol=1e-9)


def test_grouped_lookup_sums_the_contributions_of_each_group():
    bundle, matrix = _bundle(native=True)
    # mileage and age in one group, brand alone, the bias last
    columns = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
    explainer = Explainer(bundle)
    per_feature = explainer.contributions(matrix)
    price, _, _, grouped = explainer.explain(matrix, explainer.grouped(columns))
    np.testing.assert_allclose(grouped, per_feature @ columns, atol=1e-9)
    np.testing.assert_allclose(np.log(price), bundle.predict_log(matrix), atol=2e-5)
    with pytest.raises(ValueError):
        explainer.grouped(columns[:, :2])  # the bias must stay a column of its own
