"""Market statistics per key and day, from raw listings: the batch feature pipeline.

A row stamped at midnight M describes the window [M - w, M): listings listed, and sales sold,
strictly before M. A sale at time T therefore sees, through Feast's point-in-time join, only
what the market showed before the day of T began.

The price index is the median of log(price) + AGE_ADJUST * age + MILEAGE_ADJUST * mileage/100k:
a fixed, generic depreciation allowance (not fitted, so it cannot leak the future), which
keeps a model's market level comparable when the age mix of its listings shifts.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from tqdm import tqdm

from autovalue.keys import brand_key, model_key

WINDOWS_DAYS = (7, 30, 90)
AGE_ADJUST = 0.10
MILEAGE_ADJUST = 0.10
LEVELS = {"model": "model_key", "brand": "brand_key", "segment": "segment"}


def keyed_listings(raw: pd.DataFrame) -> pd.DataFrame:
    """Raw listings with entity keys, age and the adjusted log prices used by the index."""
    frame = raw[raw["listed_at"].notna()].copy()
    frame["model_key"] = [model_key(b, m) for b, m in zip(frame["brand"], frame["model"])]
    frame["brand_key"] = [brand_key(b) for b in frame["brand"]]
    frame["segment"] = frame["body_type"].astype(str)
    listed = frame["listed_at"]
    frame["age_years"] = (listed.dt.year - frame["year"]) + (listed.dt.dayofyear - 182) / 365.25
    allowance = AGE_ADJUST * frame["age_years"] + MILEAGE_ADJUST * frame["mileage_km"] / 100_000
    frame["ask_adjusted"] = np.log(frame["asking_price"]) + allowance
    frame["sold_adjusted"] = np.log(frame["sold_price"]) + allowance
    return frame


def _window_medians(times: np.ndarray, values: np.ndarray, days: np.ndarray, window: np.timedelta64):
    """Median of each column and the count over [day - window, day) for every day. A missing
    value (a listing without mileage: no adjusted price either) is left out of its column's
    median, not the count; np.median is kept where nothing is missing (nanmedian is slower)."""
    lo = np.searchsorted(times, days - window, side="left")
    hi = np.searchsorted(times, days, side="left")
    out = np.full((days.size, values.shape[1]), np.nan)
    median = np.nanmedian if np.isnan(values).any() else np.median
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a window whose values are all missing: NaN
        for i in np.flatnonzero(hi > lo):
            out[i] = median(values[lo[i]:hi[i]], axis=0)
    return out, hi - lo


def level_stats(frame: pd.DataFrame, level: str, days: np.ndarray) -> pd.DataFrame:
    """One row per key and day of `level` ('model', 'brand' or 'segment')."""
    key_column = LEVELS[level]
    full = level == "model"  # the coarse levels keep the index and counts only
    rows = []
    for key, group in frame.groupby(key_column, sort=True):
        listed = group.sort_values("listed_at")
        ask_times = listed["listed_at"].to_numpy(dtype="datetime64[ns]")
        ask_cols = ["ask_adjusted", "asking_price", "mileage_km", "age_years"] if full else ["ask_adjusted"]
        ask_values = listed[ask_cols].to_numpy(dtype=float)
        sold = group[group["sold_at"].notna()].sort_values("sold_at")
        sold_times = sold["sold_at"].to_numpy(dtype="datetime64[ns]")
        sold_cols = ["sold_adjusted", "sold_price"] if full else ["sold_adjusted"]
        sold_values = sold[sold_cols].to_numpy(dtype=float)
        stats = {key_column: key, "event_timestamp": days}
        for window in WINDOWS_DAYS:
            span = np.timedelta64(window, "D")
            ask, listings = _window_medians(ask_times, ask_values, days, span)
            stats[f"{level}_ask_index_{window}d"] = ask[:, 0]
            stats[f"{level}_listings_{window}d"] = listings.astype(float)
            if full:
                stats[f"{level}_ask_median_{window}d"] = ask[:, 1]
                stats[f"{level}_mileage_median_{window}d"] = ask[:, 2]
                stats[f"{level}_age_median_{window}d"] = ask[:, 3]
            if sold_values.size:
                sale, sales = _window_medians(sold_times, sold_values, days, span)
            else:
                sale, sales = np.full((days.size, len(sold_cols)), np.nan), np.zeros(days.size)
            stats[f"{level}_sold_index_{window}d"] = sale[:, 0]
            if full:
                stats[f"{level}_sold_median_{window}d"] = sale[:, 1]
                stats[f"{level}_sales_{window}d"] = sales.astype(float)
        short, long = WINDOWS_DAYS[0], WINDOWS_DAYS[-1]
        stats[f"{level}_ask_trend"] = stats[f"{level}_ask_index_{short}d"] - stats[f"{level}_ask_index_{long}d"]
        stats[f"{level}_supply_trend"] = (stats[f"{level}_listings_{short}d"] * long / short
                                          / np.maximum(stats[f"{level}_listings_{long}d"], 1))
        table = pd.DataFrame(stats)
        # No row for a day whose longest window is empty: Feast's TTL then yields nulls, not stale values.
        rows.append(table[table[f"{level}_listings_{long}d"] > 0])
    result = pd.concat(rows, ignore_index=True)
    result["event_timestamp"] = pd.to_datetime(result["event_timestamp"]).dt.tz_localize("UTC")
    return result


def stat_days(frame: pd.DataFrame) -> np.ndarray:
    """Midnights from the day after the first listing to the day after the last event."""
    last = max(frame["listed_at"].max(), frame["sold_at"].max() if frame["sold_at"].notna().any() else frame["listed_at"].max())
    first = frame["listed_at"].min().floor("D") + pd.Timedelta(days=1)
    return pd.date_range(first, last.floor("D") + pd.Timedelta(days=1), freq="D").tz_localize(None).to_numpy(dtype="datetime64[ns]")


def build_market_stats(raw: pd.DataFrame, progress: bool = True) -> dict[str, pd.DataFrame]:
    frame = keyed_listings(raw)
    frame["listed_at"] = frame["listed_at"].dt.tz_convert("UTC").dt.tz_localize(None)
    frame["sold_at"] = pd.to_datetime(frame["sold_at"], utc=True).dt.tz_localize(None)
    days = stat_days(frame)
    return {level: level_stats(frame, level, days)
            for level in tqdm(LEVELS, desc="market stats", disable=not progress)}
