"""A served model's price, interval and value drivers from one pass over its trees.

Serving's own: training and the benchmarks predict with ModelBundle alone. The contributions are
approximate (Saabas) ones, XGBoost's `approx_contribs`: exact SHAP named the same top driver for
96% of listings at a far higher cost (bench/README.md). They are looked up per leaf
(bento.leaf_contributions): XGBoost's own call has a fixed cost of milliseconds even for one row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xgboost as xgb

from autovalue.model_bundle import ModelBundle
from bento.leaf_contributions import LeafContributions


class Explainer:
    def __init__(self, bundle: ModelBundle, lookup: LeafContributions | None = None) -> None:
        self.bundle = bundle
        self.lookup = lookup if lookup is not None else LeafContributions(bundle.booster, len(bundle.features))
        # The leaves are found by column position (validate_features=False), so the matrix needs
        # no names; it needs the types only where a column is a native categorical (its splits
        # are category sets). Naming and typing a DMatrix is re-validated on every construction.
        types = bundle.feature_types
        self._types = types if "c" in types else None

    def with_threads(self, threads: int) -> "Explainer":
        """The same model on `threads` threads, sharing this one's lookup (the same trees)."""
        return Explainer(self.bundle.with_threads(threads), self.lookup)

    def grouped(self, columns: np.ndarray) -> LeafContributions:
        """A lookup whose contributions are summed into groups: `columns` is (features + 1, k),
        the bias in the last of the k (LeafContributions.projected)."""
        return self.lookup.projected(columns)

    def contributions(self, matrix: np.ndarray, lookup: LeafContributions | None = None) -> np.ndarray:
        """Per-feature contributions to log(price); the last column is the bias; each row sums
        to the predicted log price. `lookup`: a projection of this model's lookup (`grouped`)."""
        bundle = self.bundle
        dmatrix = xgb.DMatrix(matrix, feature_types=self._types, enable_categorical=self._types is not None,
                              nthread=bundle.metadata.get("nthread", 1))
        leaves = bundle.booster.predict(dmatrix, pred_leaf=True, validate_features=False)
        lookup = lookup if lookup is not None else self.lookup
        out = lookup.contributions(leaves.reshape(len(matrix), -1))
        if bundle.margin is not None:
            # XGBoost adds a given margin instead of its base score.
            out[:, -1] -= lookup.base_score
            out += lookup.project(bundle.margin.contributions(matrix, len(bundle.features) + 1))
        return out

    def explain(self, matrix: np.ndarray, lookup: LeafContributions | None = None,
                confidence: Sequence[str] | None = None,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Price, interval and contributions (per feature, or per group with a grouped `lookup`):
        the log price is the sum of the contributions (XGBoost's prediction up to float32
        rounding, ~1e-6)."""
        contributions = self.contributions(matrix, lookup)
        return (*self.bundle.prices_of(contributions.sum(axis=1), confidence), contributions)
