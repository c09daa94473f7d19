"""The market history the model learnt from (the raw market data), read once per file version,
and what it says about one car model: its price over time and how its price falls with age and
with mileage. Prices are sold prices where the listing sold (what an estimate predicts), asking
prices beside them over time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from app.guard import NoData
from autovalue.parquet import read_parquet
from autovalue.settings import Settings

RECENT_DAYS = 180  # age and mileage curves from recent sales: an older market was priced differently
MIN_SALES = 5  # a point on a curve needs at least this many sales


@st.cache_resource(show_spinner=False, ttl=600, max_entries=2)
def _read(path: str, mtime: float) -> pd.DataFrame:
    # cache_resource, not cache_data: the frame is large and only read, never copied per rerun.
    frame = read_parquet(path)
    for column in ("listed_at", "sold_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def market(settings: Settings) -> pd.DataFrame:
    path = settings.raw_dir / f"{settings.market_source}.parquet"
    if not path.exists():
        raise NoData(f"No market data yet ({path} does not exist): run `autovalue generate` or `autovalue import`.")
    return _read(str(path), path.stat().st_mtime)


@dataclass
class ModelMarket:
    over_time: pd.DataFrame  # week, median_asking, median_sold, listings, sales
    by_year: pd.DataFrame  # year, median, q25, q75, sales
    by_mileage: pd.DataFrame  # mileage (bin middle, km), median, q25, q75, sales
    sales: int  # recent sales behind the two curves


def _curve(sales: pd.DataFrame, key: pd.Series, name: str) -> pd.DataFrame:
    grouped = sales.groupby(key)["sold_price"]
    curve = pd.DataFrame({"median": grouped.median(), "q25": grouped.quantile(0.25), "q75": grouped.quantile(0.75),
                          "sales": grouped.size()})
    curve.index.name = name
    return curve[curve["sales"] >= MIN_SALES].reset_index()


def model_market(frame: pd.DataFrame, brand: str, model: str) -> ModelMarket:
    rows = frame[(frame["brand"] == brand) & (frame["model"] == model)]
    if rows.empty:
        raise NoData(f"The market data has no {brand} {model}.")
    listed = rows.groupby(rows["listed_at"].dt.to_period("W").dt.start_time)["asking_price"]
    sold = rows.dropna(subset=["sold_price"])
    sold_weeks = sold.groupby(sold["sold_at"].dt.to_period("W").dt.start_time)["sold_price"]
    over_time = pd.DataFrame({"median_asking": listed.median(), "listings": listed.size()}).join(
        pd.DataFrame({"median_sold": sold_weeks.median(), "sales": sold_weeks.size()}), how="outer")
    over_time.index.name = "week"
    recent = sold[sold["sold_at"] >= sold["sold_at"].max() - pd.Timedelta(days=RECENT_DAYS)]
    top = max(float(recent["mileage_km"].quantile(0.98)) if len(recent) else 0.0, 10_000.0)
    width = _nice_width(top / 12)
    bins = (np.minimum(recent["mileage_km"], top) // width) * width + width / 2
    return ModelMarket(over_time.reset_index(), _curve(recent, recent["year"], "year"),
                       _curve(recent, bins, "mileage"), len(recent))


def _nice_width(raw: float) -> float:
    """A bin width a person reads easily: 1, 2 or 5 × a power of ten (km)."""
    power = 10 ** np.floor(np.log10(raw))
    return float(min((m * power for m in (1, 2, 5, 10) if m * power >= raw), default=10 * power))


@st.cache_data(show_spinner=False, ttl=600, max_entries=64)
def cached_model_market(path: str, mtime: float, brand: str, model: str) -> ModelMarket:
    return model_market(_read(path, mtime), brand, model)


def for_model(settings: Settings, brand: str, model: str) -> ModelMarket:
    path = settings.raw_dir / f"{settings.market_source}.parquet"
    market(settings)  # the plain message when there is no file
    return cached_model_market(str(path), path.stat().st_mtime, brand, model)
