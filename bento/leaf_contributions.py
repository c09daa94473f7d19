"""XGBoost's approximate (Saabas) feature contributions, looked up per leaf instead of recomputed.

Saabas contributions depend only on the leaf a row reaches in each tree: along the path from the
root, each split credits its feature with the change in the node's mean value (the cover-weighted
mean of the leaves below it), and the root's mean goes to the bias. So each tree's leaves get their
contribution vector once, at load, and a batch needs only XGBoost's leaf indices plus a sum.

Why not `booster.predict(pred_contribs=True, approx_contribs=True)`: XGBoost recomputes every
node's mean value on every call, a fixed cost whatever the batch size (bench/README.md), which was
most of a single valuation's time. The results equal XGBoost's (tests/test_leaf_contributions.py).
"""

from __future__ import annotations

import copy
import json
import re

import numpy as np
import xgboost as xgb


class LeafContributions:
    def __init__(self, booster: xgb.Booster, n_features: int) -> None:
        model = json.loads(bytes(booster.save_raw("json")))["learner"]
        params = model["learner_model_param"]
        if int(params.get("num_class", 0)) > 1 or int(params.get("num_target", 1)) > 1:
            raise ValueError("leaf contributions need a single-output regression model")
        trees = model["gradient_booster"]["model"]["trees"]
        width = max(len(tree["left_children"]) for tree in trees)
        self.n_trees = len(trees)
        # (trees * width, features + 1): row t * width + leaf holds that leaf's contribution vector.
        # float32 as XGBoost's own; 300 trees of depth 6 and 58 features take 9 MB.
        self.table = np.zeros((self.n_trees * width, n_features + 1), dtype=np.float32)
        for t, tree in enumerate(trees):
            self._fill(tree, self.table[t * width:(t + 1) * width], n_features)
        self.base_score = float(re.findall(r"[-+0-9.eE]+", str(params["base_score"]))[0])
        self.offsets = np.arange(self.n_trees, dtype=np.int64) * width
        self.columns: np.ndarray | None = None  # the projection, once projected

    @staticmethod
    def _fill(tree: dict, rows: np.ndarray, n_features: int) -> None:
        left, right = tree["left_children"], tree["right_children"]
        hess, leaf_value, feature = tree["sum_hessian"], tree["split_conditions"], tree["split_indices"]
        mean = [0.0] * len(left)

        def node_mean(node: int) -> float:  # XGBoost's FillNodeMeanValues
            if left[node] == -1:
                mean[node] = float(leaf_value[node])
            else:
                mean[node] = (node_mean(left[node]) * hess[left[node]]
                              + node_mean(right[node]) * hess[right[node]]) / hess[node]
            return mean[node]

        node_mean(0)
        rows[0, n_features] = mean[0]
        stack = [0]
        while stack:
            node = stack.pop()
            for child in (left[node], right[node]):
                if child == -1:
                    continue
                rows[child] = rows[node]
                rows[child, feature[node]] += mean[child] - mean[node]
                stack.append(child)

    def projected(self, columns: np.ndarray) -> "LeafContributions":
        """The same lookup for (features + 1, k) combinations of the contribution columns, e.g.
        sums per group of features, with the bias in the last of the k: a batch then gathers k
        columns per tree instead of features + 1."""
        # Each column in exactly one group and the bias alone in the last: the groups then still
        # sum to the log price (explain) and the bias stays out of every group.
        if (columns.shape[0] != self.table.shape[1] or not (columns.sum(axis=1) == 1).all()
                or columns[-1, -1] != 1 or columns[:-1, -1].any()):
            raise ValueError("a projection puts every contribution column in one group and the bias alone last")
        projected = copy.copy(self)
        projected.table = self.table.astype(np.float64) @ columns
        projected.columns = columns
        return projected

    def project(self, contributions: np.ndarray) -> np.ndarray:
        """(rows, features + 1) contributions in this lookup's layout (grouped if projected)."""
        return contributions if self.columns is None else contributions @ self.columns

    def contributions(self, leaves: np.ndarray) -> np.ndarray:
        """(rows, trees) leaf indices from `predict(pred_leaf=True)` -> (rows, features + 1)
        contributions to the margin; the last column is the bias (base score included)."""
        index = leaves.astype(np.int64) + self.offsets
        if len(index) <= 16:
            out = self.table[index].sum(axis=1, dtype=np.float64)
        else:  # one gather per tree: the (rows, trees, features) temporary of many rows is slower
            out = np.zeros((len(index), self.table.shape[1]))
            for tree in range(self.n_trees):
                out += self.table[index[:, tree]]
        out[:, -1] += self.base_score
        return out
