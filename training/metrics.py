"""Holdout metrics on the price scale (the models predict log(price))."""

from __future__ import annotations

import numpy as np


def price_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    error = predicted - actual
    ape = np.abs(error) / actual
    total = np.sum((actual - actual.mean()) ** 2)
    return {
        "mae": float(np.mean(np.abs(error))),
        "mape": float(np.mean(ape)),
        "median_ape": float(np.median(ape)),
        "r2": float(1 - np.sum(error ** 2) / total) if total > 0 else float("nan"),
    }


def interval_metrics(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> dict[str, float]:
    """Coverage of the interval and its mean width, absolute and relative to the price."""
    actual = np.asarray(actual, dtype=float)
    inside = (actual >= lower) & (actual <= upper)
    return {
        "interval_coverage": float(np.mean(inside)),
        "interval_mean_width": float(np.mean(upper - lower)),
        "interval_mean_relative_width": float(np.mean((upper - lower) / actual)),
    }
