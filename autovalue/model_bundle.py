"""The exported model: an XGBoost booster in its own format plus JSON metadata. Never pickle.

Training writes it, the service and the scorer load it. The metadata carries everything needed
to turn feature rows into the model's input matrix the same way training did: the ordered
feature list and, for categorical features, their levels (codes are positions in that list;
an unseen level becomes missing, which XGBoost routes down its default branch).

Layout of a bundle directory (`models/<version>/` and the BentoML model store entry):
    model.ubj      the booster predicting log(price)
    metadata.json  version, features, categorical levels, interval offsets, metrics, lineage
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from autovalue.market_margin import MarketMargin

MODEL_FILE = "model.ubj"
METADATA_FILE = "metadata.json"


@dataclass
class ModelBundle:
    booster: xgb.Booster
    metadata: dict[str, Any]

    @property
    def version(self) -> str:
        return self.metadata["version"]

    @property
    def features(self) -> list[str]:
        return self.metadata["features"]

    @property
    def row_features(self) -> list[str]:
        """The features a row must bring: all but the ones the bundle computes (the market source)."""
        source = (self.metadata.get("market_margin") or {}).get("source_feature")
        return [name for name in self.features if name != source]

    @property
    def categorical(self) -> dict[str, list[str]]:
        return self.metadata.get("categorical", {})

    @cached_property
    def _level_codes(self) -> dict[str, dict[str, int]]:
        return {name: {level: code for code, level in enumerate(levels)} for name, levels in self.categorical.items()}

    def encode(self, rows: pd.DataFrame | Mapping[str, Sequence]) -> np.ndarray:
        """Feature columns (a frame or a dict of lists) -> float32 matrix in training order.
        Plain numbers take a numpy path (the service's hot path, a listing at a time);
        a column numpy cannot read (e.g. numbers as text) is coerced by pandas."""
        columns = rows if isinstance(rows, Mapping) else {c: rows[c] for c in rows.columns}
        n = len(next(iter(columns.values()))) if columns else 0
        matrix = np.full((n, len(self.features)), np.nan, dtype=np.float32)
        codes = self._level_codes
        for j, name in enumerate(self.features):
            values = columns.get(name)
            if values is None:
                continue
            if name in codes:
                index = codes[name]
                matrix[:, j] = [index.get(v, np.nan) if v is not None else np.nan for v in values]
                continue
            try:
                matrix[:, j] = np.array(values, dtype=np.float64)  # None becomes NaN
            except (TypeError, ValueError):
                matrix[:, j] = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=np.float32)
        if self.margin is not None:
            self.margin.fill_source(matrix)
        return matrix

    @cached_property
    def margin(self) -> MarketMargin | None:
        """The market margin the trees add to (autovalue.market_margin), if the model has one."""
        spec = self.metadata.get("market_margin")
        return MarketMargin(spec, self.features) if spec else None

    def predict_log(self, matrix: np.ndarray) -> np.ndarray:
        if self.margin is None:
            return self.booster.inplace_predict(matrix)
        return self.booster.inplace_predict(matrix, base_margin=self.margin(matrix))

    def predict(self, matrix: np.ndarray, confidence: Sequence[str] | None = None,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Price estimate and the 80% interval, in the market's currency; with `confidence`
        (one level per row), each row's interval is the one calibrated for its level."""
        return self.prices_of(self.predict_log(matrix), confidence)

    def interval(self, confidence: str | None = None) -> dict:
        """The calibrated interval offsets of a confidence level (the model's own without one)."""
        by_level = self.metadata.get("interval_by_confidence") or {}
        return by_level.get(confidence) or self.metadata["interval"]

    def deal_bands(self, confidence: str | None = None) -> list[float] | None:
        """Log offsets from the estimate cutting asking prices into great | good | fair | high |
        overpriced (autovalue.valuation.deal_rating); None where the model rates no deal."""
        by_level = self.metadata.get("deal_bands_by_confidence")
        if by_level is not None and confidence is not None:
            return by_level.get(confidence)
        bands = self.metadata.get("deal_bands")
        if bands is not None:
            return bands["offsets"]
        # A model from before asking-price bands: the interval's halves (the old rule).
        low, high = self.interval()["lower_log_offset"], self.interval()["upper_log_offset"]
        return [low, low / 2, high / 2, high]

    def prices_of(self, log_price: np.ndarray, confidence: Sequence[str] | None = None,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Price and interval from log prices (at each row's confidence level, when given)."""
        if confidence is None:
            interval = self.interval()
            lower, upper = interval["lower_log_offset"], interval["upper_log_offset"]
        else:
            offsets = {level: self.interval(level) for level in set(confidence)}
            lower = np.array([offsets[level]["lower_log_offset"] for level in confidence])
            upper = np.array([offsets[level]["upper_log_offset"] for level in confidence])
        return np.exp(log_price), np.exp(log_price + lower), np.exp(log_price + upper)

    @cached_property
    def feature_types(self) -> list[str]:
        """As the booster was trained: XGBoost keeps them in the model file (price-ordered codes
        are numbers, native categoricals "c"). An untrained booster has none: categoricals native."""
        if self.booster.feature_types:
            return list(self.booster.feature_types)
        return ["c" if name in self.categorical else "q" for name in self.features]

    def with_threads(self, threads: int) -> "ModelBundle":
        """The same model predicting with `threads` threads (a copy: the original keeps its own)."""
        booster = self.booster.copy()
        booster.set_param({"nthread": threads})
        bundle = ModelBundle(booster, {**self.metadata, "nthread": threads})
        return bundle

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(directory / MODEL_FILE)
        (directory / METADATA_FILE).write_text(json.dumps(self.metadata, indent=2, default=str))
        return directory

    @classmethod
    def load(cls, directory: Path) -> "ModelBundle":
        booster = xgb.Booster()
        booster.load_model(directory / MODEL_FILE)
        metadata = json.loads((directory / METADATA_FILE).read_text())
        booster.set_param({"nthread": metadata.get("nthread", 1)})
        return cls(booster, metadata)
