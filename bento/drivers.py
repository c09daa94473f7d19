"""Value drivers: XGBoost's per-feature contributions to log(price), grouped into what a buyer
understands (mileage, age, market, ...) and stated in money.

A group contributing c to log(price) moves the estimate P by the factor exp(c): without it the
estimate would be P * exp(-c), so the group is worth P * (1 - exp(-c)) of the estimate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


# Exact feature names first, then prefixes; anything else keeps its own name.
GROUPS: dict[str, str] = {
    "odometer_km": "mileage",
    "km_per_year": "mileage",
    "age_years": "age",
    "car_model": "make and model",
    "car_brand": "make and model",
    "car_fuel": "fuel",
    "car_transmission": "transmission",
    "car_body": "body type",
    "car_region": "region",
    "car_seller": "seller",
    "market_source": "market",
}
PREFIX_GROUPS: dict[str, str] = {"model_": "market", "brand_": "market", "segment_": "market"}


def group_of(feature: str) -> str:
    if feature in GROUPS:
        return GROUPS[feature]
    for prefix, group in PREFIX_GROUPS.items():
        if feature.startswith(prefix):
            return group
    return feature


class DriverGrouping:
    """Which features make up each driver group (`membership`, the projection the service's
    grouped leaf lookup sums with) and the money amounts and top drivers of grouped contributions."""

    def __init__(self, features: Sequence[str]):
        self.groups = sorted({group_of(f) for f in features})
        index = {group: j for j, group in enumerate(self.groups)}
        # Rows: the contribution columns (features, then XGBoost's bias); columns: the groups,
        # then the bias, which belongs to no group (Explainer.grouped's layout).
        self.membership = np.zeros((len(features) + 1, len(self.groups) + 1), dtype=np.float64)
        for i, feature in enumerate(features):
            self.membership[i, index[group_of(feature)]] = 1.0
        self.membership[-1, -1] = 1.0

    def amounts(self, grouped: np.ndarray, prices: np.ndarray) -> np.ndarray:
        """(rows, groups) money amounts from (rows, groups + 1) log contributions summed per
        group, the bias last."""
        return prices[:, None] * -np.expm1(-grouped[:, :-1])

    def top(self, amounts: np.ndarray, currency: str, k: int) -> list[list[dict]]:
        """Per row of (rows, groups) amounts: the k groups that move that estimate most, largest
        first (one argsort for the whole batch), as ValueDriver fields (validated with the
        valuation they belong to)."""
        order = np.argsort(-np.abs(amounts), axis=1, kind="stable")[:, :k]
        largest = np.take_along_axis(amounts, order, axis=1)
        groups = self.groups
        return [[{"feature": groups[j], "amount": amount,
                  "label": f"{groups[j]} {format_money(amount, currency, signed=True)}"}
                 for j, amount in zip(columns, values) if amount != 0.0]
                for columns, values in zip(order.tolist(), largest.tolist())]


def format_money(amount: float, currency: str, signed: bool = False) -> str:
    """IDR the Indonesian way: Rp 8.2 jt (juta, million), Rp 1.3 M (miliar, billion),
    Rp 950 rb (ribu, thousand); other currencies plainly: USD 1,234."""
    sign = ("-" if amount < 0 else "+") if signed else ("-" if amount < 0 else "")
    value = abs(amount)
    if not math.isfinite(value):
        return f"{sign}{currency} ?"
    if currency == "IDR":
        if value >= 1e9:
            return f"{sign}Rp {value / 1e9:.1f} M"
        if value >= 1e6:
            return f"{sign}Rp {value / 1e6:.1f} jt"
        if value >= 1e3:
            return f"{sign}Rp {value / 1e3:.0f} rb"
        return f"{sign}Rp {value:.0f}"
    return f"{sign}{currency} {value:,.0f}"
