"""Throughput and freshness of the pipeline, computed from stored valuations.

Freshness is produce → stored: the Kafka record's timestamp (`produced_at`) to the moment the
scorer stored the valuation (`scored_at`). Both come from the valuations table.
"""

from __future__ import annotations

import pandas as pd

BUCKET = "10s"


def freshness_seconds(frame: pd.DataFrame) -> pd.Series:
    return (frame["scored_at"] - frame["produced_at"]).dt.total_seconds().dropna()


def per_bucket(frame: pd.DataFrame, bucket: str = BUCKET) -> pd.DataFrame:
    """One row per time bucket: valuations/s and freshness p50/p95 (seconds)."""
    if frame.empty:
        return pd.DataFrame(columns=["time", "per_second", "p50", "p95"])
    frame = frame.assign(time=frame["scored_at"].fillna(frame["created_at"]).dt.floor(bucket),
                         freshness=(frame["scored_at"] - frame["produced_at"]).dt.total_seconds())
    seconds = pd.Timedelta(bucket).total_seconds()
    grouped = frame.groupby("time")
    out = pd.DataFrame({
        "per_second": grouped.size() / seconds,
        "p50": grouped["freshness"].quantile(0.5),
        "p95": grouped["freshness"].quantile(0.95),
    }).reset_index()
    return out


def deal_feed(frame: pd.DataFrame, limit: int = 8) -> pd.DataFrame:
    """The most underpriced listings: asking price furthest below the estimate, as a share."""
    priced = frame.dropna(subset=["asking_price"]).copy()
    if priced.empty:
        return priced
    priced["below"] = priced["predicted_price"] - priced["asking_price"]
    priced["below_share"] = priced["below"] / priced["predicted_price"]
    priced = priced[priced["below"] > 0].drop_duplicates("listing_id")
    return priced.sort_values("below_share", ascending=False).head(limit)
