"""The market feed: every valid listing on the topic into the live market statistics, pushed
to Feast's online store every `market_push_interval_s`.

It reads every partition outside any consumer group, from when the stored history was written:
the statistics need the whole market, not the share of partitions one scorer owns, and a
restart rebuilds them from the history plus the stream the broker still holds. Two feeds therefore push the same rows. It runs
in a process of its own (`autovalue market-feed`, started beside the scorers by the demo or
compose): a push recomputes statistics with pandas, which in the scorer's process held the GIL
long enough to set the p99 freshness.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Protocol

from consumers.kafka_clients import assign_from_time, partition_reader
from autovalue.schema import Listing
from autovalue.settings import Settings
from consumers.messages import Accepted, market_listing, parse_record
from market.io import read_source, table_path

log = logging.getLogger(__name__)


class Market(Protocol):
    def add(self, listings: list[Listing]) -> None: ...

    def push(self) -> int: ...


class MarketFeed:
    def __init__(self, settings: Settings, market: Market, since: datetime) -> None:
        self.settings = settings
        self.market = market
        self.since_ms = int(since.timestamp() * 1000)
        self.listing_type = market_listing(settings)
        self.consumer = partition_reader(settings, max_poll_records=settings.scorer_batch_size)
        self.added = 0
        self.pushed = 0  # rows of every level

    def run(self, stopping: Callable[[], bool]) -> None:
        topic = self.settings.topic_listings
        while not assign_from_time(self.consumer, topic, self.since_ms) and not stopping():
            time.sleep(1.0)  # the topic does not exist yet
        interval = self.settings.market_push_interval_s
        next_push = time.monotonic() + interval
        log.info("market feed: reading %s from %s", topic, datetime.fromtimestamp(self.since_ms / 1000, timezone.utc))
        try:
            while not stopping():
                wait_ms = max(0, min(1000, int((next_push - time.monotonic()) * 1000)))
                polled = self.consumer.poll(timeout_ms=wait_ms)
                # A seek to the end may land inside the last batch (tansu): skip what is older.
                parsed = (parse_record(r, listing_type=self.listing_type) for batch in polled.values() for r in batch if r.timestamp >= self.since_ms)
                listings = [p.listing for p in parsed if isinstance(p, Accepted)]
                self.market.add(listings)
                self.added += len(listings)
                if time.monotonic() >= next_push:
                    self._push()
                    next_push = time.monotonic() + interval
        finally:
            self._push()  # what arrived since the last push
            self.consumer.close()
            log.info("market feed stopped after %d listings and %d pushed rows", self.added, self.pushed)

    def _push(self) -> None:
        try:
            pushed = self.market.push()
        except Exception:  # derived data: a failed recomputation must not end the feed
            log.exception("market statistics could not be recomputed; the listings since the last push are skipped")
            return
        self.pushed += pushed


def stream_start(settings: Settings) -> datetime:
    """When the stored market history was written: the stream from then on is new to it."""
    written = table_path(settings.raw_dir, settings.market_source).stat().st_mtime
    return datetime.fromtimestamp(written, timezone.utc)


def run_market_feed(settings: Settings, stopping: Callable[[], bool]) -> None:
    """The feed of the settings' market into its own Feast push source, until `stopping()`."""
    from feature_repo.config import feature_store
    from feature_repo.live import LiveMarket

    source = settings.market_source
    market = LiveMarket(feature_store(settings), read_source(settings.raw_dir, source), source)
    MarketFeed(settings, market, stream_start(settings)).run(stopping)
