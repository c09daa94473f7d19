"""Throughput and freshness of the pipeline, computed from stored valuations.

Throughput divides by the time actually covered: since the stream started (its first valuation
after the last pause) and over the last minute. Freshness is produce → stored: the Kafka
record's timestamp (`produced_at`) to the moment the scorer stored the valuation (`scored_at`).
Both come from the valuations table.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

BUCKET = "10s"
STREAM_GAP = pd.Timedelta(minutes=2)  # a pause this long ends a stream: the next valuation starts one


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


@dataclass
class Throughput:
    since_start: float  # valuations / s since the stream started
    last_minute: float  # valuations / s over the last minute (or since the start, if later)
    started: pd.Timestamp | None  # the first valuation of the running stream
    last: pd.Timestamp | None  # its newest
    count: int  # valuations since then
    looked_back_h: float  # the start is looked for this far back; an older one is cut here


def throughput(minutes: pd.DataFrame, recent_stored: pd.Series, now: pd.Timestamp,
               looked_back_h: float, gap: pd.Timedelta = STREAM_GAP) -> Throughput:
    """`minutes`: database.minute_counts (minute, count, first, last); `recent_stored`: the
    created_at of recent valuations (the last minute at least). The stream started at the
    first valuation after the last pause of `gap` or more; rates divide by the time actually
    covered, not by a fixed window."""
    if minutes.empty:
        return Throughput(0.0, 0.0, None, None, 0, looked_back_h)
    minutes = minutes.sort_values("first").reset_index(drop=True)
    pauses = minutes["first"].iloc[1:].to_numpy() - minutes["last"].iloc[:-1].to_numpy() >= gap
    start_row = int(pauses.nonzero()[0][-1]) + 1 if pauses.any() else 0
    run = minutes.iloc[start_row:]
    started, last = run["first"].iloc[0], run["last"].iloc[-1]
    count = int(run["count"].sum())
    since_start = count / max((last - started).total_seconds(), 1.0)
    window_s = min(60.0, max((now - started).total_seconds(), 1.0))
    in_window = int((recent_stored >= now - pd.Timedelta(seconds=window_s)).sum())
    return Throughput(since_start, in_window / window_s, started, last, count, looked_back_h)


def deal_feed(frame: pd.DataFrame, limit: int = 8) -> pd.DataFrame:
    """The most underpriced listings: asking price furthest below the estimate, as a share."""
    priced = frame.dropna(subset=["asking_price"]).copy()
    if priced.empty:
        return priced
    priced["below"] = priced["predicted_price"] - priced["asking_price"]
    priced["below_share"] = priced["below"] / priced["predicted_price"]
    priced = priced[priced["below"] > 0].drop_duplicates("listing_id")
    return priced.sort_values("below_share", ascending=False).head(limit)
