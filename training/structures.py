"""Two ways XGBoost can take the market, fitted and compared on every run.

- "market_margin": the trees start from the listing's market price level (training.margin) and
  split only on the listing's own attributes and the market source. It follows a moving market
  one to one: it wins on the simulated market.
- "features": the trees split on everything, market statistics included, from a constant start.
  Where a car model's market index rests on a few unlike listings (vehicles_us: one model name
  for cheap and dear trucks alike) the margin is mostly noise, and this wins.
(Figures: README "Results", bench/README.md.)

Both are early-stopped on the newest training slice; the one with the lower log-price RMSE there
is calibrated, refit and judged by the holdout, and the bundle says which it is (`structure`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb

from autovalue.model_bundle import ModelBundle
from autovalue.settings import Settings
from training import candidates
from training.calibration import with_unfamiliar_rows
from training.dataset import TrainingData
from training.margin import margin_spec, margins, model_inputs


@dataclass
class Structure:
    name: str
    with_margin: bool
    margin_only: list[str]  # features the trees never split on (the margin's inputs)


def structures(data: TrainingData, rows: pd.DataFrame) -> list[Structure]:
    out = []
    if margin_spec(data.features, rows) is not None:
        # The market reaches the trees only through the margin: given the market statistics as
        # well, they learnt relations between them (asking vs sold indices, listing counts) that
        # a live feed at another rate does not keep, and whole car models' estimates moved.
        out.append(Structure("market_margin", True, list(data.market)))
    out.append(Structure("features", False, []))
    return out


@dataclass
class Fitted:
    structure: Structure
    booster: xgb.Booster
    bundle: ModelBundle  # the booster with what it needs to score rows (margin, levels)
    validation_rmse: float  # log price, on the newest training slice


def fit(settings: Settings, seed: int, data: TrainingData, structure: Structure, rows: pd.DataFrame,
        y_log: np.ndarray, levels: dict, stop: pd.DataFrame | None = None, y_stop: np.ndarray | None = None,
        rounds: int | None = None, callbacks: list | None = None) -> Fitted:
    """Early-stopped on `stop` (the probe), or `rounds` rounds (the refit). Both fits include
    rows made unfamiliar (training.calibration.with_unfamiliar_rows)."""
    native = candidates.native_categoricals(settings)
    spec = margin_spec(data.features, rows) if structure.with_margin else None
    train_rows, y_train = with_unfamiliar_rows(rows, y_log, data.features, settings.train_unfamiliar_fraction, seed)
    weight = candidates.recency_weights(settings, train_rows)
    features, train_rows = model_inputs(spec, data.features, train_rows)

    def frame(part: pd.DataFrame) -> pd.DataFrame:
        return candidates.xgboost_frame(part, features, levels, native, structure.margin_only)

    bundle_meta = {"features": features, "categorical": levels, "market_margin": spec,
                   "margin_only": structure.margin_only, "structure": structure.name}
    if rounds is not None:
        booster = candidates.refit_xgboost(settings, seed, frame(train_rows), y_train, rounds=rounds,
                                           margin=margins(spec, train_rows), weight=weight)
        return Fitted(structure, booster, ModelBundle(booster, bundle_meta), float("nan"))
    _, stop_rows = model_inputs(spec, data.features, stop)
    booster = candidates.train_xgboost(settings, seed, frame(train_rows), y_train, frame(stop_rows), y_stop,
                                       callbacks=callbacks, margin_train=margins(spec, train_rows),
                                       margin_stop=margins(spec, stop_rows), weight=weight)
    bundle = ModelBundle(booster, bundle_meta)
    rmse = float(np.sqrt(np.mean((y_stop - bundle.predict_log(bundle.encode(stop))) ** 2)))
    return Fitted(structure, booster, bundle, rmse)
