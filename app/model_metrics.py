"""Holdout metrics as a person reads them: names in words, each value in its own unit (a share
as a percentage, money in the market's unit, the noise-floor ratio as "1.14 × the noise floor")."""

from __future__ import annotations

import math
import re

from app import display

LABELS = {
    "mape": "MAPE (mean absolute % error)",
    "median_ape": "median absolute % error",
    "mae": "mean absolute error",
    "r2": "R² (variance explained)",
    "interval_coverage": "sales inside the 80% interval",
    "interval_mean_width": "80% interval, mean width",
    "interval_mean_relative_width": "80% interval, mean width (share of price)",
    "mape_over_noise_floor": "MAPE against the market's noise floor",
    "fit_rows": "rows fitted",
}
MODELS = {"xgboost": "XGBoost (served)", "linear_regression": "linear regression", "random_forest": "random forest"}
SHARES = {"mape", "median_ape", "interval_coverage", "interval_mean_relative_width"}  # fractions of 1
MONEY = {"mae", "interval_mean_width"}
RATINGS = ["great", "good", "fair", "high", "overpriced"]


def label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " "))


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def text(name: str, value, currency: str) -> str:
    if _missing(value):
        return "–"
    if name in MONEY:
        return display.money(value, currency)
    if name == "mape_over_noise_floor":
        return f"{value:.2f} × the noise floor"
    if name == "r2":
        return f"{value:.3f}"
    if name == "fit_rows":
        return f"{value:,.0f}"
    return f"{value:.2%}" if name in SHARES else f"{value:.4g}"


def change(name: str, delta, currency: str) -> str:
    """A difference between two models: percentage points for shares, not a relative %."""
    if _missing(delta):
        return "–"
    sign = "+" if delta >= 0 else "−"
    if name in SHARES:
        return f"{sign}{abs(delta) * 100:.2f} points"
    return sign + text(name, abs(delta), currency)


def deal_shares(metrics: dict) -> str | None:
    """"9% / 20% / 45% / 18% / 9%" of the holdout's listings rated great … overpriced."""
    shares = [metrics.get(f"deal_share_{r}") for r in RATINGS]
    return None if any(_missing(s) for s in shares) else " / ".join(f"{s:.0%}" for s in shares)


def decision(tag: str | None) -> str | None:
    """The trainer's champion decision, in words, with MAPEs as percentages."""
    if not tag:
        return None
    if tag == "no champion yet":
        return "promoted as the first champion (there was none before it)"
    return re.sub(r"(MAPE |\()(0\.\d+)", lambda m: f"{m.group(1)}{float(m.group(2)):.2%}", tag)
