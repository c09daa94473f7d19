"""Fresh market statistics from the stream: the scorer pushes them into the online store.

The same `level_stats` code as the batch pipeline computes the rows, over the recent raw
history plus every listing streamed since, so a pushed row means what a materialized row
means, only stamped now. Pushes go online only: with a parquet offline source Feast rewrites
the whole file on each offline push, without a lock (unsafe with several scorers, measured
45-120 ms per call); offline history comes from the batch pipeline instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from feast.data_source import PushMode

from autovalue.schema import CANONICAL_COLUMNS, Listing
from autovalue.settings import Settings
from feature_repo.definitions import MODEL_PUSH_SOURCE
from feature_repo.market_stats import WINDOWS_DAYS, keyed_listings, level_stats

log = logging.getLogger(__name__)


def _naive_utc(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("listed_at", "sold_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_localize(None)
    return frame


class LiveMarket:
    def __init__(self, settings: Settings, store, history: pd.DataFrame) -> None:
        self.store = store
        self.interval_s = settings.market_push_interval_s
        self.horizon = pd.Timedelta(days=max(WINDOWS_DAYS))
        cutoff = pd.Timestamp.now(tz="UTC") - self.horizon
        recent = history[(history["listed_at"] >= cutoff) | (history["sold_at"] >= cutoff)]
        self.frame = _naive_utc(keyed_listings(recent))
        self.dirty: set[str] = set()
        self.last_push = time.monotonic()
        self.pushed_rows = 0
        self.lock = threading.Lock()  # add() runs in the scoring loop, pushes in a thread of their own

    def add(self, listings: Iterable[Listing]) -> None:
        rows = [{**listing.model_dump(mode="python"), "sold_at": pd.NaT, "sold_price": np.nan} for listing in listings]
        if not rows:
            return
        fresh = _naive_utc(keyed_listings(pd.DataFrame(rows, columns=CANONICAL_COLUMNS)))
        with self.lock:
            self.frame = pd.concat([self.frame, fresh], ignore_index=True)
            self.dirty.update(fresh["model_key"])

    def rows(self, keys: set[str], at: datetime) -> pd.DataFrame:
        with self.lock:  # only the cheap selection holds the lock; the statistics do not
            subset = self.frame[self.frame["model_key"].isin(keys)]
        moment = np.array([pd.Timestamp(at).tz_convert("UTC").tz_localize(None).to_datetime64()])
        return level_stats(subset, "model", moment) if len(subset) else pd.DataFrame()

    def maybe_push(self, force: bool = False) -> int:
        if not self.dirty or (not force and time.monotonic() - self.last_push < self.interval_s):
            return 0
        now = datetime.now(timezone.utc)
        with self.lock:
            keys, self.dirty = self.dirty, set()
        rows = self.rows(keys, now)
        self.last_push = time.monotonic()
        if rows.empty:
            return 0
        try:
            self.store.push(MODEL_PUSH_SOURCE, rows, to=PushMode.ONLINE)
        except Exception as error:  # derived data: a failed push is retried with the next one
            log.warning("market push failed (%s); the next push recomputes it", error)
            with self.lock:
                self.dirty.update(rows["model_key"])
            return 0
        with self.lock:
            self._forget_old(now)
        self.pushed_rows += len(rows)
        return len(rows)

    def _forget_old(self, now: datetime) -> None:
        cutoff = pd.Timestamp(now).tz_convert("UTC").tz_localize(None) - self.horizon
        keep = (self.frame["listed_at"] >= cutoff) | (self.frame["sold_at"] >= cutoff)
        if not keep.all():
            self.frame = self.frame[keep].reset_index(drop=True)

    def run_in_background(self, stop: threading.Event) -> threading.Thread:
        """Push every interval from a thread: a push (recompute + Feast write) never delays scoring."""

        def loop() -> None:
            while not stop.wait(self.interval_s):
                self.maybe_push(force=True)

        thread = threading.Thread(target=loop, name="market-push", daemon=True)
        thread.start()
        return thread
