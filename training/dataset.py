"""Point-in-time training datasets from Feast (filled in by the Feast issue)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class TrainingData:
    """One row per observation (a sale, or a dated/undated asking price for imported data).

    frame columns: listing_id, model_key, event_timestamp (UTC; NaT when undated), label (price
    in the source's currency), and one column per feature, named as in the feature service.
    """

    frame: pd.DataFrame
    features: list[str]  # ordered, exactly the feature service's features
    categorical: list[str]  # the subset of `features` holding strings
    feature_service: str
    source: str
    has_dates: bool
    currency: str = "IDR"
    noise_floor_mape: float | None = None  # the generator's floor, for simulated data
    extra: dict = field(default_factory=dict)
