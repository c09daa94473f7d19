"""Incoming listings compared with the training data: population stability index per feature.

PSI = Σ (incoming share − training share) × ln(incoming share / training share) over bins:
deciles of the training data for numbers, categories for words (a category the training data
never had gets its own bin). Shares are floored at 0.0001 so an empty bin stays finite.

Thresholds, the usual reading of PSI in credit and pricing models:
    PSI < 0.10          stable      — no action
    0.10 ≤ PSI < 0.25   watch       — a moderate shift; look at the feature
    PSI ≥ 0.25          warn        — a major shift; the model sees cars unlike its training data,
                                      retrain or check the source
Below MIN_ROWS incoming listings PSI is mostly sampling noise, so it is not judged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WATCH, WARN = 0.10, 0.25
MIN_ROWS = 200
FLOOR = 1e-4
BINS = 10

# feature -> (column in the valuations table, column in the raw market data)
NUMERIC = {"year": ("year", "year"), "mileage": ("mileage", "mileage_km"),
           "asking_price": ("asking_price", "asking_price")}
CATEGORICAL = {name: (name, name) for name in
               ["brand", "fuel", "transmission", "body_type", "region", "seller_type"]}


def state(psi: float) -> str:
    if not np.isfinite(psi):
        return "no data"
    return "warn" if psi >= WARN else "watch" if psi >= WATCH else "stable"


def _psi(expected: np.ndarray, actual: np.ndarray) -> float:
    expected = np.maximum(expected / max(expected.sum(), 1), FLOOR)
    actual = np.maximum(actual / max(actual.sum(), 1), FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def numeric_psi(training: pd.Series, incoming: pd.Series) -> float:
    training, incoming = training.dropna().astype(float), incoming.dropna().astype(float)
    if training.empty or incoming.empty:
        return float("nan")
    edges = np.unique(np.quantile(training, np.linspace(0, 1, BINS + 1)[1:-1]))
    # Bins are (-inf, e1], (e1, e2], ..., (ek, inf): every value lands in one.
    expected = np.bincount(np.searchsorted(edges, training, side="left"), minlength=len(edges) + 1)
    actual = np.bincount(np.searchsorted(edges, incoming, side="left"), minlength=len(edges) + 1)
    return _psi(expected, actual)


def categorical_psi(training: pd.Series, incoming: pd.Series) -> float:
    training, incoming = training.dropna().astype(str), incoming.dropna().astype(str)
    if training.empty or incoming.empty:
        return float("nan")
    levels = sorted(set(training) | set(incoming))
    expected = training.value_counts().reindex(levels, fill_value=0).to_numpy()
    actual = incoming.value_counts().reindex(levels, fill_value=0).to_numpy()
    return _psi(expected, actual)


def psi_table(training: pd.DataFrame, incoming: pd.DataFrame) -> pd.DataFrame:
    """One row per feature: psi, state; incoming uses the valuations table's column names."""
    rows = []
    for feature, (incoming_col, training_col) in NUMERIC.items():
        rows.append((feature, "number", numeric_psi(training[training_col], incoming[incoming_col])))
    for feature, (incoming_col, training_col) in CATEGORICAL.items():
        rows.append((feature, "category", categorical_psi(training[training_col], incoming[incoming_col])))
    table = pd.DataFrame(rows, columns=["feature", "kind", "psi"])
    table["state"] = table["psi"].map(state)
    return table.sort_values("psi", ascending=False, na_position="last").reset_index(drop=True)
