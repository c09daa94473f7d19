"""The market margin: where a model's log price starts before its trees add anything.

margin = market level - AGE_ADJUST * age - MILEAGE_ADJUST * km / 100k, where the market level
is the first price index the listing has in the spec's order (model, then brand, then segment;
the 7-day index when it counts enough listings, then 30 and 90 days), and the allowances are
the same fixed ones the index itself adds back.

Why: trained on log(price) alone, XGBoost learnt each car model's price level from the
car-model code and followed the market features only partly. When a model's market moved
after training (demand shocks in the simulator, re-pricing in real markets) the estimate
stayed behind, further for some car models than others (figures: bench/README.md, live accuracy).
Given the market level as XGBoost's base margin, the trees learn only the listing's deviation
from its market, and a market move reaches the estimate one to one.

The margin is part of the model (metadata `market_margin`): training fits with it, and every
prediction through ModelBundle adds it, so training and serving cannot disagree on it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

KM_UNIT = 100_000.0
SOURCES = ("model", "brand", "segment")


class MarketMargin:
    """Computes a bundle's margin from its encoded feature matrix (columns in `features` order)."""

    def __init__(self, spec: dict, features: Sequence[str]) -> None:
        self.spec = spec
        index = {name: j for j, name in enumerate(features)}
        # [{"index": feature, "count": feature or None, "min_count": n}]; a bare name: index only.
        levels = [level if isinstance(level, dict) else {"index": level} for level in spec["levels"]]
        self.level_columns = [index[level["index"]] for level in levels]
        # Which market the level came from (model 0, brand 1, segment 2; the default 3), a model
        # input of its own: the trees cannot see the market statistics (training.pipeline), and
        # without it could not tell a car model's own market from its brand's.
        self.source_column = index.get(spec.get("source_feature") or "", -1)
        self.level_sources = np.array([SOURCES.index(level["index"].split("_", 1)[0]) if
                                       level["index"].split("_", 1)[0] in SOURCES else len(SOURCES) - 1
                                       for level in levels] + [len(SOURCES)], dtype=np.float32)
        self.count_columns = [index[level["count"]] if level.get("count") else -1 for level in levels]
        self.min_counts = np.array([float(level.get("min_count") or 0) for level in levels])
        self.age_column = index[spec["age_feature"]]
        self.km_column = index[spec["mileage_feature"]]
        self.age_adjust = float(spec["age_adjust"])
        self.mileage_adjust = float(spec["mileage_adjust"])
        self.default_level = float(spec["default_level"])
        center = spec["center"]  # training means: what the bias stands for in the value drivers
        self.center = (float(center["level"]), float(center["age"]), float(center["km"]))

    def _first(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The market levels, and per row the position of the one used (-1: the default)."""
        levels = matrix[:, self.level_columns].astype(np.float64)
        known = ~np.isnan(levels)
        for j, column in enumerate(self.count_columns):
            if column >= 0:  # a short window's index counts only with enough listings behind it
                known[:, j] &= matrix[:, column] >= self.min_counts[j]
        return levels, np.where(known.any(axis=1), known.argmax(axis=1), -1)

    def fill_source(self, matrix: np.ndarray) -> None:
        """Writes each row's market source into its column (encoded matrices only)."""
        if self.source_column >= 0:
            matrix[:, self.source_column] = self.level_sources[self._first(matrix)[1]]

    def parts(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(level, the column it came from or -1 for the default, age, km), float64."""
        levels, first = self._first(matrix)
        rows = np.arange(len(matrix))
        level = np.where(first >= 0, levels[rows, np.maximum(first, 0)], self.default_level)
        column = np.where(first >= 0, np.asarray(self.level_columns)[np.maximum(first, 0)], -1)
        age = np.nan_to_num(matrix[:, self.age_column].astype(np.float64), nan=self.center[1])
        km = np.nan_to_num(matrix[:, self.km_column].astype(np.float64), nan=self.center[2])
        return level, column, age, km

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        level, _, age, km = self.parts(matrix)
        return level - self.age_adjust * age - self.mileage_adjust * km / KM_UNIT

    def contributions(self, matrix: np.ndarray, n_columns: int) -> np.ndarray:
        """The margin as (rows, n_columns) contributions in the layout of the trees' (features,
        then the bias): the level's distance from the training mean goes to the level feature
        used (a "market" driver), the allowances' distances to age and mileage, and the rest,
        the same for every listing, to the bias. Rows sum to the margin."""
        level, column, age, km = self.parts(matrix)
        c_level, c_age, c_km = self.center
        out = np.zeros((len(matrix), n_columns))
        rows = np.arange(len(matrix))
        used = column >= 0
        out[rows[used], column[used]] += level[used] - c_level
        out[:, self.age_column] -= self.age_adjust * (age - c_age)
        out[:, self.km_column] -= self.mileage_adjust * (km - c_km) / KM_UNIT
        out[:, -1] += c_level - self.age_adjust * c_age - self.mileage_adjust * c_km / KM_UNIT
        out[~used, -1] += level[~used] - c_level
        return out
