"""A TrainingData built straight from the simulated market, for the training benchmark.

Stands in for the Feast point-in-time dataset (training.dataset.build_dataset) so the trainer
can be timed on its own at sizes the feature pipeline would take long to build (the tests
train on the real pipeline's data: tests/training_data.py): one observation per sold listing,
labelled with the sold price at the sale time, with the listing's attributes and market features per model computed strictly before
the sale (what the feature store would have served at that moment). The real feature service
is richer; the trainer reads feature names only from TrainingData.features.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from autovalue.keys import model_key
from market.generate import generate_market
from market.io import read_source
from training.dataset import TrainingData

LISTING_NUMERIC = ["year", "mileage_km", "age_years", "km_per_year"]
LISTING_CATEGORICAL = ["fuel", "transmission", "body_type", "region", "seller_type", "brand", "model"]
# A rough yearly value loss, only to put prices of different ages on one scale in the market
# medians; the model learns the real depreciation per brand from the listing features.
AGE_SLOPE = 0.1
SOLD_WINDOWS = {"30d": "30D", "90d": "90D", "365d": "365D"}
ASKING_WINDOWS = {"14d": "14D", "30d": "30D"}
MARKET_FEATURES = ([f"model_sold_log_price_{w}_at_age" for w in SOLD_WINDOWS]
                   + [f"model_asking_log_price_{w}_at_age" for w in ASKING_WINDOWS]
                   + ["model_sales_30d", "model_trend_30d_365d"])


def simulated_training_data(raw_dir: Path, listings: int, seed: int, end: date = date(2025, 6, 30),
                            days: int = 730) -> TrainingData:
    meta = generate_market(raw_dir, listings, seed, end, days, progress=False)
    return training_data_from_market(read_source(raw_dir, "market"), meta)


def training_data_from_market(market: pd.DataFrame, meta: dict) -> TrainingData:
    sold = market[market["sold_price"].notna()].copy()
    sold["model_key"] = [model_key(b, m) for b, m in zip(sold["brand"], sold["model"])]
    sold["event_timestamp"] = pd.to_datetime(sold["sold_at"], utc=True)
    sold["label"] = sold["sold_price"]
    sold["age_years"] = age_years(pd.to_datetime(sold["listed_at"], utc=True), sold["year"])
    sold["km_per_year"] = sold["mileage_km"] / sold["age_years"]
    sold = sold.sort_values(["event_timestamp", "listing_id"], kind="stable").reset_index(drop=True)
    market_levels = pd.concat([_sold_levels(sold), _asking_levels(market, sold)], axis=1)
    # On-demand style: the market level (normalised to age 0) brought back to this car's age,
    # so the feature is on the label's scale whatever the model's price class.
    for column in [c for c in MARKET_FEATURES if c.endswith("_at_age")]:
        market_levels[column] = market_levels.pop(column.removesuffix("_at_age")) - AGE_SLOPE * sold["age_years"]
    features = LISTING_NUMERIC + LISTING_CATEGORICAL + MARKET_FEATURES
    frame = pd.concat([sold, market_levels], axis=1)
    columns = ["listing_id", "model_key", "event_timestamp", "label", *features]
    return TrainingData(frame=frame[columns], features=features, categorical=LISTING_CATEGORICAL,
                        feature_service="valuation_sim_v1", source="market", has_dates=True,
                        currency=meta.get("currency", "IDR"), noise_floor_mape=meta.get("noise_floor_mape"))


def age_years(listed_at: pd.Series, year: pd.Series) -> pd.Series:
    return np.maximum(listed_at.dt.year + (listed_at.dt.dayofyear - 182) / 365.25 - year, 0.1)


def _sold_levels(sold: pd.DataFrame) -> pd.DataFrame:
    """Trailing per-model medians of age-normalised log sold prices, strictly before each sale.

    closed="left" on a time window excludes every sale at the same instant, the row itself
    included: no observation sees its own label.
    """
    series = pd.DataFrame({
        "model_key": sold["model_key"].to_numpy(),
        "norm": np.log(sold["label"].to_numpy()) + AGE_SLOPE * sold["age_years"].to_numpy(),
        "row": np.arange(len(sold)),
    }, index=pd.DatetimeIndex(sold["event_timestamp"]))
    # groupby().rolling() returns rows grouped by sorted key, in time order within each group.
    rows = series.sort_values("model_key", kind="stable")["row"].to_numpy()
    grouped = series.groupby("model_key")["norm"]
    out = pd.DataFrame(index=np.arange(len(sold)))
    for name, window in SOLD_WINDOWS.items():
        rolling = grouped.rolling(window, closed="left")
        out.loc[rows, f"model_sold_log_price_{name}"] = rolling.median().to_numpy()
        if name == "30d":
            out.loc[rows, "model_sales_30d"] = rolling.count().fillna(0).to_numpy()
    out["model_trend_30d_365d"] = out["model_sold_log_price_30d"] - out["model_sold_log_price_365d"]
    return out


def _asking_levels(market: pd.DataFrame, sold: pd.DataFrame) -> pd.DataFrame:
    """Trailing per-model medians of age-normalised log asking prices of listings posted before
    the sale: asking prices are seen as soon as a car is listed, so they follow the market faster
    than sales. merge_asof with allow_exact_matches=False keeps only listings strictly before.
    """
    listings = market[["brand", "model", "year", "listed_at", "asking_price"]].copy()
    listings["model_key"] = [model_key(b, m) for b, m in zip(listings["brand"], listings["model"])]
    listings["listed_at"] = pd.to_datetime(listings["listed_at"], utc=True)
    listings["norm"] = np.log(listings["asking_price"]) + AGE_SLOPE * age_years(listings["listed_at"], listings["year"])
    listings = listings.sort_values(["model_key", "listed_at"], kind="stable")
    grouped = listings.set_index("listed_at").groupby("model_key")["norm"]
    columns = [f"model_asking_log_price_{name}" for name in ASKING_WINDOWS]
    for column, window in zip(columns, ASKING_WINDOWS.values()):
        listings[column] = grouped.rolling(window).median().to_numpy()
    events = pd.DataFrame({"event_timestamp": sold["event_timestamp"], "model_key": sold["model_key"],
                           "row": np.arange(len(sold))}).sort_values("event_timestamp", kind="stable")
    joined = pd.merge_asof(events, listings.sort_values("listed_at", kind="stable")[["listed_at", "model_key", *columns]],
                           left_on="event_timestamp", right_on="listed_at", by="model_key",
                           allow_exact_matches=False, direction="backward")
    return joined.sort_values("row")[columns].reset_index(drop=True)
