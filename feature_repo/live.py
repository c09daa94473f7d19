"""Fresh market statistics from the stream, pushed into the online store.

The same `level_stats` code as the batch pipeline computes the rows, over the recent raw
history plus every listing streamed since, so a pushed row means what a materialized row
means, only stamped on the stream's clock: the newest listing date seen (the history's newest
date before the first). A live marketplace's clock is the wall clock give or take; a replayed
or simulated market's is its own calendar, so its 7-day window is seven of its days, not seven
real ones (which hold months of a compressed stream). Every level is pushed (model, brand,
segment): on a market's calendar a level only the batch pipeline wrote would pass its TTL at the
listings' moments. Pushes go online only: with a parquet offline source Feast rewrites the whole
file on each offline push, without a lock (unsafe with several pushers, and slow); offline
history comes from the batch pipeline instead.

One LiveMarket belongs to one market feed (consumers/market_feed.py), which calls `add` and
`push` from a single thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from feast.data_source import PushMode

from autovalue.schema import CANONICAL_COLUMNS, Listing
from autovalue.market_attributes import DEFAULT_SOURCE
from feature_repo.definitions import MARKET_LEVELS, push_source_name
from feature_repo.market_stats import LEVELS, WINDOWS_DAYS, keyed_listings, level_stats

log = logging.getLogger(__name__)


def _naive_utc(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("listed_at", "sold_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_localize(None)
    return frame


class LiveMarket:
    def __init__(self, store, history: pd.DataFrame, source: str = DEFAULT_SOURCE) -> None:
        self.store = store
        self.push_sources = {level: push_source_name(source, level) for level in MARKET_LEVELS}
        self.horizon = pd.Timedelta(days=max(WINDOWS_DAYS))
        listed, sold = pd.to_datetime(history["listed_at"], utc=True), pd.to_datetime(history["sold_at"], utc=True)
        newest = max(listed.max(), sold.max()) if sold.notna().any() else listed.max()
        self.clock: datetime = (newest if pd.notna(newest) else pd.Timestamp.now(tz="UTC")).to_pydatetime()
        self.every_key_at = self.clock  # when every key last got a row (the batch pipeline's, at first)
        cutoff = pd.Timestamp(self.clock) - self.horizon
        recent = history[(listed >= cutoff) | (sold >= cutoff)]
        self.frame = _naive_utc(keyed_listings(recent))
        self.fresh: list[dict] = []  # streamed listings not yet in `frame`: one concat per push
        self.unpushed: dict[str, set[str]] = {level: set() for level in MARKET_LEVELS}  # last push failed

    def add(self, listings: Iterable[Listing]) -> None:
        """Listings without an asking price are left out: the statistics are of asking prices
        (their medians would turn NaN)."""
        self.fresh += [{**listing.model_dump(mode="python"), "sold_at": pd.NaT, "sold_price": np.nan}
                       for listing in listings if listing.asking_price is not None]

    def push(self) -> int:
        """Recompute and push the statistics of every model, brand and segment a listing arrived
        for since the last push, and once a market day of every key (as the batch pipeline writes
        a row a day: a key without listings for longer than the TTL would be blanked otherwise,
        unlike in training); returns the rows pushed."""
        if not self.fresh and not any(self.unpushed.values()):
            return 0
        keys, self.unpushed = self.unpushed, {level: set() for level in MARKET_LEVELS}
        streamed, self.fresh = self.fresh, []
        if streamed:
            self.clock = max(self.clock, *(listing["listed_at"] for listing in streamed))
            # Listings may carry any UTC offset: naive UTC times before keyed_listings uses .dt.
            fresh = keyed_listings(_naive_utc(pd.DataFrame(streamed, columns=CANONICAL_COLUMNS)))
            self.frame = pd.concat([self._recent(self.clock), fresh], ignore_index=True)
            for level in MARKET_LEVELS:
                keys[level] |= set(fresh[LEVELS[level]])
        if self.clock - self.every_key_at >= timedelta(days=1):
            keys = {level: set(self.frame[LEVELS[level]]) for level in MARKET_LEVELS}
            self.every_key_at = self.clock
        pushed = 0
        for level in MARKET_LEVELS:
            rows = self.rows(keys[level], self.clock, level)
            if rows.empty:
                continue
            try:
                self.store.push(self.push_sources[level], rows, to=PushMode.ONLINE)
            except Exception as error:  # derived data: the next push recomputes the same keys
                log.warning("market push failed (%s); the next push recomputes it", error)
                self.unpushed[level] |= keys[level]
                continue
            pushed += len(rows)
        return pushed

    def rows(self, keys: set[str], at: datetime, level: str = "model") -> pd.DataFrame:
        subset = self.frame[self.frame[LEVELS[level]].isin(keys)]
        moment = np.array([pd.Timestamp(at).tz_convert("UTC").tz_localize(None).to_datetime64()])
        return level_stats(subset, level, moment) if len(subset) else pd.DataFrame()

    def _recent(self, now: datetime) -> pd.DataFrame:
        cutoff = pd.Timestamp(now).tz_convert("UTC").tz_localize(None) - self.horizon
        keep = (self.frame["listed_at"] >= cutoff) | (self.frame["sold_at"] >= cutoff)
        return self.frame if keep.all() else self.frame[keep].reset_index(drop=True)
