"""Fresh market statistics from the stream, pushed into the online store.

The same `level_stats` code as the batch pipeline computes the rows, over the recent raw
history plus every listing streamed since, so a pushed row means what a materialized row
means, only stamped on the stream's clock: the newest listing date seen (the history's newest
date before the first). A live marketplace's clock is the wall clock give or take; a replayed
or simulated market's is its own calendar, so its 7-day window is seven of its days, not seven
real ones (which hold months of a compressed stream). Pushes go online only: with a parquet offline source Feast rewrites
the whole file on each offline push, without a lock (unsafe with several pushers, measured
45-120 ms per call); offline history comes from the batch pipeline instead.

One LiveMarket belongs to one market feed (consumers/market_feed.py), which calls `add` and
`push` from a single thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

import numpy as np
import pandas as pd
from feast.data_source import PushMode

from autovalue.schema import CANONICAL_COLUMNS, Listing
from feature_repo.definitions import MODEL_PUSH_SOURCE
from feature_repo.market_stats import WINDOWS_DAYS, keyed_listings, level_stats

log = logging.getLogger(__name__)


def _naive_utc(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("listed_at", "sold_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_localize(None)
    return frame


class LiveMarket:
    def __init__(self, store, history: pd.DataFrame, push_source: str = MODEL_PUSH_SOURCE) -> None:
        self.store = store
        self.push_source = push_source  # the market's own (definitions.push_source_name)
        self.horizon = pd.Timedelta(days=max(WINDOWS_DAYS))
        listed, sold = pd.to_datetime(history["listed_at"], utc=True), pd.to_datetime(history["sold_at"], utc=True)
        newest = max(listed.max(), sold.max()) if sold.notna().any() else listed.max()
        self.clock: datetime = (newest if pd.notna(newest) else pd.Timestamp.now(tz="UTC")).to_pydatetime()
        cutoff = pd.Timestamp(self.clock) - self.horizon
        recent = history[(listed >= cutoff) | (sold >= cutoff)]
        self.frame = _naive_utc(keyed_listings(recent))
        self.fresh: list[dict] = []  # streamed listings not yet in `frame`: one concat per push
        self.unpushed: set[str] = set()  # models whose last push failed

    def add(self, listings: Iterable[Listing]) -> None:
        """Listings without an asking price are left out: the statistics are of asking prices
        (their medians would turn NaN)."""
        self.fresh += [{**listing.model_dump(mode="python"), "sold_at": pd.NaT, "sold_price": np.nan}
                       for listing in listings if listing.asking_price is not None]

    def push(self) -> int:
        """Recompute and push the model-level statistics of every model a listing arrived for
        since the last push; returns the rows pushed."""
        if not self.fresh and not self.unpushed:
            return 0
        keys, self.unpushed = self.unpushed, set()
        streamed, self.fresh = self.fresh, []
        if streamed:
            self.clock = max(self.clock, *(listing["listed_at"] for listing in streamed))
        now = self.clock
        if streamed:
            # Listings may carry any UTC offset: naive UTC times before keyed_listings uses .dt.
            fresh = keyed_listings(_naive_utc(pd.DataFrame(streamed, columns=CANONICAL_COLUMNS)))
            self.frame = pd.concat([self._recent(now), fresh], ignore_index=True)
            keys |= set(fresh["model_key"])
        rows = self.rows(keys, now)
        if rows.empty:
            return 0
        try:
            self.store.push(self.push_source, rows, to=PushMode.ONLINE)
        except Exception as error:  # derived data: the next push recomputes the same keys
            log.warning("market push failed (%s); the next push recomputes it", error)
            self.unpushed |= keys
            return 0
        return len(rows)

    def rows(self, keys: set[str], at: datetime) -> pd.DataFrame:
        subset = self.frame[self.frame["model_key"].isin(keys)]
        moment = np.array([pd.Timestamp(at).tz_convert("UTC").tz_localize(None).to_datetime64()])
        return level_stats(subset, "model", moment) if len(subset) else pd.DataFrame()

    def _recent(self, now: datetime) -> pd.DataFrame:
        cutoff = pd.Timestamp(now).tz_convert("UTC").tz_localize(None) - self.horizon
        keep = (self.frame["listed_at"] >= cutoff) | (self.frame["sold_at"] >= cutoff)
        return self.frame if keep.all() else self.frame[keep].reset_index(drop=True)
