"""`autovalue replay`: a dated market's listings onto the listings topic, in listing-date order,
on a compressed clock (`speedup` simulated seconds per real second), and each sale in the file
on the outcomes topic when its sold_at comes due on the same clock.

Dates are never shifted: a car's age is computed from `listed_at` and its model `year`, so a
replayed listing keeps both as the file has them, and is valued against the market statistics
of its own time where the online store still has them (usually stale: see the README).
"""

from __future__ import annotations

import heapq
import json
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from consumers.kafka_clients import json_producer
from autovalue.parquet import read_parquet
from autovalue.schema import FIELD_KINDS, REQUIRED_COLUMNS
from autovalue.settings import Settings
from market.io import meta_path, table_path

# What became of a listing is not part of it: sent later, as an outcome, when it comes due.
OUTCOME_COLUMNS = ("sold_at", "sold_price")


class ReplayRefused(Exception):
    """One line naming why there is nothing to replay (the command exits 2 with it)."""


@dataclass
class ReplaySource:
    name: str
    frame: pd.DataFrame
    meta: dict


def open_source(raw_dir: Path, file_or_source: str) -> ReplaySource:
    """An imported market by source name (data/raw/<source>.parquet) or by the path of such a
    parquet file, its metadata beside it (`<name>.meta.json`)."""
    path = Path(file_or_source)
    if path.suffix == ".parquet":
        name, meta_file = path.stem, path.with_name(f"{path.stem}.meta.json")
        if not path.is_file():
            raise ReplayRefused(f"no such file {path}")
    else:
        name, path, meta_file = file_or_source, table_path(raw_dir, file_or_source), meta_path(raw_dir, file_or_source)
        if not path.is_file():
            raise ReplayRefused(f"no market source {name!r}: {path} does not exist (`autovalue import` writes one)")
    try:
        meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    except (OSError, ValueError) as error:
        raise ReplayRefused(f"{meta_file}: not readable metadata: {str(error).splitlines()[0]}") from None
    try:
        frame = read_parquet(path)
    except (OSError, ValueError) as error:  # pyarrow's errors are ValueErrors or OSErrors
        raise ReplayRefused(f"{path}: not a readable market table: {str(error).splitlines()[0]}") from None
    missing = [c for c in [*REQUIRED_COLUMNS, "listing_id"] if c not in frame]
    if missing:
        raise ReplayRefused(f"{path}: not a market table: no column(s) {missing}")
    dated = meta.get("has_listing_dates", True) and "listed_at" in frame and frame["listed_at"].notna().any()
    if not dated:
        raise ReplayRefused(f"{name} has no listing dates: nothing to replay")
    return ReplaySource(name, frame, meta)


@dataclass
class ReplayPlan:
    listings: pd.DataFrame  # in listing-date order (file order within a date)
    skipped: Counter = field(default_factory=Counter)  # by reason


def plan(frame: pd.DataFrame, since: datetime | None = None, limit: int | None = None) -> ReplayPlan:
    listed = pd.to_datetime(frame["listed_at"], utc=True)
    frame = frame.assign(listed_at=listed)
    if "sold_at" in frame:
        frame = frame.assign(sold_at=pd.to_datetime(frame["sold_at"], utc=True))
    skipped = Counter()
    keep = listed.notna()
    skipped["no listing date"] = int((~keep).sum())
    if since is not None:
        early = keep & (listed < pd.Timestamp(since).tz_convert("UTC"))
        skipped[f"listed before {since.date()}"] = int(early.sum())
        keep &= ~early
    # A stable sort: listings of one date keep the file's order (a date is often a whole day).
    ordered = frame[keep].sort_values("listed_at", kind="stable")
    if limit is not None:
        ordered = ordered.head(limit)
    return ReplayPlan(ordered.reset_index(drop=True), +skipped)


def _missing(value) -> bool:
    if value is None or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return not math.isfinite(value)  # JSON has no NaN or Infinity: the service refuses them
    return bool(np.ndim(value) == 0 and pd.isna(value))


def _plain(name: str, value):
    if isinstance(value, pd.Timestamp):
        value = value.tz_localize("UTC") if value.tzinfo is None else value.tz_convert("UTC")
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if FIELD_KINDS.get(name) == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)  # the schema's integers are strict: 2015.0 would be refused
    return value


def listing_message(row: dict) -> dict:
    """A listing as the simulator sends it: every column of the file but the outcome's, with
    missing values left out rather than sent as NaN."""
    return {name: _plain(name, value) for name, value in row.items()
            if name not in OUTCOME_COLUMNS and not _missing(value)}


def outcome_message(row: dict, known_at: datetime) -> dict | None:
    """The sale in the file as an outcome message (None for a listing the file has no sale for:
    an unsold listing's fate is unknown, not a withdrawal)."""
    sold_at, price = row.get("sold_at"), row.get("sold_price")
    if _missing(sold_at) or _missing(price):
        return None
    days = (pd.Timestamp(sold_at) - pd.Timestamp(row["listed_at"])).total_seconds() / 86_400
    return {"listing_id": str(row["listing_id"]), "outcome": "sold", "sold_price": float(price),
            "days_on_market": round(max(days, 0.0), 3), "outcome_at": known_at.isoformat()}


class CompressedClock:
    """Simulated time onto real (monotonic) time: `speedup` simulated seconds per real second,
    the simulated `origin` at the real `started`."""

    def __init__(self, origin: pd.Timestamp, speedup: float, started: float) -> None:
        self.origin, self.speedup, self.started = origin, speedup, started

    def real_time(self, simulated) -> float:
        return self.started + (pd.Timestamp(simulated) - self.origin).total_seconds() / self.speedup


@dataclass
class Replayed:
    """What one replay sent."""

    source: str
    listings: int = 0
    outcomes: int = 0
    skipped: Counter = field(default_factory=Counter)
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None
    seconds: float = 0.0
    listings_left: int = 0  # not yet due when the run stopped
    outcomes_left: int = 0

    def summary(self) -> str:
        span = (f"{self.first.date()} → {self.last.date()}, {(self.last - self.first).total_seconds() / 86_400:,.1f} "
                f"days of market in {self.seconds:,.1f} s" if self.first is not None else "no listing")
        skipped = ", ".join(f"{reason} {count:,}" for reason, count in self.skipped.items())
        left = (f"; stopped with {self.listings_left:,} listings and {self.outcomes_left:,} outcomes not yet due"
                if self.listings_left or self.outcomes_left else "")
        return (f"replayed {self.source}: sent {self.listings:,} listings ({span}) and {self.outcomes:,} outcomes; "
                f"skipped {sum(self.skipped.values()):,}{f' ({skipped})' if skipped else ''}{left}")


def replay(settings: Settings, source: str, listings: pd.DataFrame, speedup: float, duration_s: float | None = None,
           stopping: Callable[[], bool] = lambda: False, progress: bool = True) -> Replayed:
    """Send `listings` (in listing-date order) when each comes due, and each sale when its
    sold_at does, until all is sent, `duration_s` real seconds pass or `stopping()`."""
    from tqdm import tqdm

    done = Replayed(source)
    rows = listings.to_dict("records")
    if not rows:
        return done
    # One request in flight: a retried batch cannot overtake the next, so the topic keeps the order.
    producer = json_producer(settings, linger_ms=10, max_in_flight_requests_per_connection=1)
    clock = CompressedClock(pd.Timestamp(rows[0]["listed_at"]), speedup, time.monotonic())
    deadline = clock.started + duration_s if duration_s else math.inf
    waiting: list[tuple[float, int, dict]] = []  # (real time due, row index, row) of sales to come
    sent = 0
    bar = tqdm(total=len(rows), unit="listing", disable=None if progress else True, desc=f"replay {source}")
    try:
        while (sent < len(rows) or waiting) and not stopping():
            now = time.monotonic()
            if now >= deadline:
                break
            while sent < len(rows) and clock.real_time(rows[sent]["listed_at"]) <= now:
                row = rows[sent]
                producer.send(settings.topic_listings, key=str(row["listing_id"]), value=listing_message(row))
                if not _missing(row.get("sold_at")) and not _missing(row.get("sold_price")):
                    heapq.heappush(waiting, (clock.real_time(max(row["sold_at"], row["listed_at"])), sent, row))
                done.first = row["listed_at"] if done.first is None else done.first
                done.last = row["listed_at"]
                sent += 1
                bar.update()
            while waiting and waiting[0][0] <= now:
                outcome = outcome_message(heapq.heappop(waiting)[2], datetime.now(timezone.utc))
                producer.send(settings.topic_outcomes, key=outcome["listing_id"], value=outcome)
                done.outcomes += 1
            next_due = min(clock.real_time(rows[sent]["listed_at"]) if sent < len(rows) else math.inf,
                           waiting[0][0] if waiting else math.inf, deadline)
            # At most half a second: a stop is seen promptly even before a month-long gap.
            time.sleep(min(max(next_due - time.monotonic(), 0.0), 0.5))
    finally:
        bar.close()
        producer.flush()
        producer.close()
    done.listings, done.listings_left, done.outcomes_left = sent, len(rows) - sent, len(waiting)
    done.seconds = time.monotonic() - clock.started
    return done
