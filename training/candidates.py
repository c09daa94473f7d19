"""The models compared on each run, all predicting log(price) from the dataset's features.

Baselines (the seed's path): a linear regression on one-hot categoricals and a random forest on
ordinal codes, both with imputed numerics. The candidate: XGBoost with price-ordered category
codes (XGBoost's native categoricals with AUTOVALUE_XGB_CATEGORICAL=native).
Feature names always come from the TrainingData, never from here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from autovalue.settings import Settings

MISSING_LEVEL = "__missing__"


def categorical_levels(frame: pd.DataFrame, categorical: list[str],
                       y_log: np.ndarray | None = None) -> dict[str, list[str]]:
    """Levels seen in `frame`; a level's code is its position, as in ModelBundle.encode.

    With `y_log` (the log prices of `frame`'s rows), levels are ordered by their mean log price,
    so XGBoost can split the codes as numbers (cheap brands and models on one side, dear ones on
    the other; see xgboost_params for why not native categoricals). Without: by name."""
    out = {}
    for name in categorical:
        values = frame[name].astype(object).where(frame[name].notna(), None)
        known = values.notna().to_numpy()
        names = values[known].astype(str).to_numpy()
        if y_log is None:
            out[name] = sorted(set(names))
            continue
        means = pd.Series(y_log[known]).groupby(names).mean()
        out[name] = sorted(means.index.tolist(), key=lambda level: (means[level], level))
    return out


def xgboost_frame(frame: pd.DataFrame, features: list[str], levels: dict[str, list[str]],
                  native: bool = False, blank: list[str] = ()) -> pd.DataFrame:
    """Features as XGBoost sees them in training: float32, categoricals as their level codes
    (NaN for a missing or unseen level), exactly what ModelBundle.encode produces for the
    service; with `native`, categoricals as pandas categoricals for XGBoost's own splits.
    `blank` features are all missing: XGBoost then never splits on them, and the service may
    pass their values for the market margin (autovalue.market_margin) without moving the trees."""
    columns = {}
    for name in features:
        if name in blank:
            columns[name] = np.full(len(frame), np.nan, dtype="float32")
            continue
        if name in levels:
            values = frame[name].astype(object).where(frame[name].notna(), None)
            categories = pd.Categorical(values.map(lambda v: None if v is None else str(v)), categories=levels[name])
            if native:
                columns[name] = categories
                continue
            codes = categories.codes.astype("float32")
            codes[codes < 0] = np.nan
            columns[name] = codes
        else:
            columns[name] = pd.to_numeric(frame[name], errors="coerce").astype("float32").to_numpy()
    return pd.DataFrame(columns, index=frame.index)


def native_categoricals(settings: Settings) -> bool:
    return settings.xgb_categorical == "native"


def xgboost_params(settings: Settings, seed: int) -> dict:
    # Categoricals go in as price-ordered codes by default, not XGBoost's native categorical
    # splits: on the 1M-row benchmark native (partition) splits made each round slower than the
    # last and ended no better (figures: bench/README.md); the market features carry most
    # per-model information. Without market features and with thousands of rare levels (the
    # CarDekho CSV) native splits did better: AUTOVALUE_XGB_CATEGORICAL=native.
    params = {
        "objective": "reg:squarederror",
        "tree_method": "hist",
        "eta": settings.xgb_learning_rate,
        "max_depth": settings.xgb_max_depth,
        "min_child_weight": settings.xgb_min_child_weight,
        "subsample": settings.xgb_subsample,
        "colsample_bytree": settings.xgb_colsample_bytree,
        "nthread": settings.train_threads,
        "seed": seed,
        "eval_metric": "rmse",
    }
    if native_categoricals(settings):
        params["max_cat_to_onehot"] = 1  # partition-based splits: many levels stay cheap
    return params


def recency_weights(settings: Settings, rows: pd.DataFrame) -> np.ndarray | None:
    """Each row's weight halves every `train_recency_half_life_days` of age before the newest row:
    a drifting market's recent sales count for more. None (all alike) without a half-life or dates."""
    half_life = settings.train_recency_half_life_days
    if half_life is None or "event_timestamp" not in rows:
        return None
    moments = pd.to_datetime(rows["event_timestamp"], utc=True)
    age_days = ((moments.max() - moments).dt.total_seconds() / 86_400).to_numpy()
    return np.power(0.5, age_days / half_life)


def train_xgboost(settings: Settings, seed: int, train: pd.DataFrame, y_train: np.ndarray,
                  stop: pd.DataFrame, y_stop: np.ndarray, callbacks: list | None = None,
                  margin_train: np.ndarray | None = None, margin_stop: np.ndarray | None = None,
                  weight: np.ndarray | None = None) -> xgb.Booster:
    """Boost until the newest training slice stops improving; keep the best round only.
    Margins: the market margin each row starts from (training.margin), if the model has one.
    `weight`: each training row's (recency_weights), or all alike."""
    dtrain = xgb.DMatrix(train, label=y_train, base_margin=margin_train, weight=weight, enable_categorical=True,
                         nthread=settings.train_threads)
    dstop = xgb.DMatrix(stop, label=y_stop, base_margin=margin_stop, enable_categorical=True,
                        nthread=settings.train_threads)
    booster = xgb.train(xgboost_params(settings, seed), dtrain, num_boost_round=settings.xgb_max_rounds,
                        evals=[(dstop, "early_stopping")],
                        early_stopping_rounds=settings.xgb_early_stopping_rounds,
                        verbose_eval=False, callbacks=callbacks or [])
    # Slice to the best round so the saved model predicts exactly what early stopping chose.
    return booster[: booster.best_iteration + 1]


def refit_xgboost(settings: Settings, seed: int, frame: pd.DataFrame, y: np.ndarray, rounds: int,
                  margin: np.ndarray | None = None, weight: np.ndarray | None = None) -> xgb.Booster:
    """A fixed number of rounds (found by early stopping) on more rows."""
    matrix = xgb.DMatrix(frame, label=y, base_margin=margin, weight=weight, enable_categorical=True,
                         nthread=settings.train_threads)
    return xgb.train(xgboost_params(settings, seed), matrix, num_boost_round=rounds, verbose_eval=False)


class Baseline:
    """A scikit-learn pipeline on log(price) with imputation and encoding of its own."""

    def __init__(self, name: str, pipeline: Pipeline, features: list[str], categorical: list[str],
                 max_rows: int | None = None) -> None:
        self.name = name
        self.max_rows = max_rows  # fit on a seeded sample of at most this many rows
        self.pipeline = pipeline
        self.features = features
        self.categorical = categorical

    def _inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[self.features].copy()
        for name in self.categorical:
            out[name] = out[name].astype(object).where(out[name].notna(), MISSING_LEVEL).astype(str)
        for name in self.features:
            if name not in self.categorical:
                out[name] = pd.to_numeric(out[name], errors="coerce").astype(float)
        return out

    def fit(self, frame: pd.DataFrame, y_log: np.ndarray) -> "Baseline":
        self.pipeline.fit(self._inputs(frame), y_log)
        return self

    def predict_log(self, frame: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict(self._inputs(frame))


def baselines(settings: Settings, seed: int, features: list[str], categorical: list[str]) -> list[Baseline]:
    numeric = [f for f in features if f not in categorical]
    linear = make_pipeline(
        ColumnTransformer([
            ("numeric", make_pipeline(SimpleImputer(strategy="median", add_indicator=True,
                                                    keep_empty_features=True), StandardScaler()), numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore", min_frequency=5), categorical),
        ]),
        LinearRegression(),
    )
    forest = make_pipeline(
        ColumnTransformer([
            ("numeric", SimpleImputer(strategy="median", keep_empty_features=True), numeric),
            ("categorical", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), categorical),
        ]),
        RandomForestRegressor(n_estimators=settings.rf_trees, min_samples_leaf=settings.rf_min_samples_leaf,
                              max_features=0.5, n_jobs=settings.train_threads, random_state=seed),
    )
    return [Baseline("linear_regression", linear, features, categorical),
            # A forest's cost grows ~n log n per tree: on large data it learns from a sample.
            Baseline("random_forest", forest, features, categorical, max_rows=settings.rf_max_rows)]
