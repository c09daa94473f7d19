"""`autovalue features`: build the market tables, apply the repo, materialize the online store."""

from __future__ import annotations

import logging
import os
from datetime import datetime, timezone

import pandas as pd
from feast import FeatureStore

from autovalue.market_attributes import DEFAULT_SOURCE, object_prefix
from autovalue.parquet import read_parquet
from autovalue.settings import Settings
from feature_repo.config import feature_store
from feature_repo.definitions import build_definitions, stats_path
from feature_repo.market_stats import LEVELS, build_market_stats

log = logging.getLogger(__name__)


def write_market_tables(settings: Settings, raw: pd.DataFrame, source: str, progress: bool = True) -> dict[str, int]:
    counts = {}
    for level, table in build_market_stats(raw, progress=progress).items():
        target = stats_path(settings, level, source)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        partial = f"{target}.{os.getpid()}.partial"
        table.to_parquet(partial, index=False)
        os.replace(partial, target)  # a reader never sees half a table
        counts[level] = len(table)
    return counts


def apply_definitions(store: FeatureStore, settings: Settings) -> None:
    objects = build_definitions(settings)
    store.apply([obj for group in objects.values() for obj in group])


def materialize(store: FeatureStore, settings: Settings, end: datetime | None = None,
                source: str = DEFAULT_SOURCE) -> None:
    """Load a market's batch tables into the online store, from their first row to `end` (now)."""
    end = end or datetime.now(timezone.utc)
    start = min(read_parquet(stats_path(settings, level, source), columns=["event_timestamp"])["event_timestamp"].min()
                for level in LEVELS)
    store.materialize(start_date=start.to_pydatetime(), end_date=end,
                      feature_views=[object_prefix(source) + f"{level}_market" for level in LEVELS])


def build_features(settings: Settings, raw: pd.DataFrame, progress: bool = True,
                   source: str = DEFAULT_SOURCE, online: bool = True) -> dict[str, int]:
    """Market tables of `source` (whose listings `raw` holds; the simulated market unless
    named), the repo applied, its market views materialized (`online=False`: not, for a
    retrain, whose landed history holds only the listings with an outcome: the market feed
    keeps the online statistics of every listing). Listings without dates have no market over
    time: the repo is applied alone (its request-time features serve them). Returns rows per
    level written ({} for undated listings)."""
    dated = raw["listed_at"].notna().any() if "listed_at" in raw.columns else False
    counts = write_market_tables(settings, raw, source, progress) if dated else {}
    store = feature_store(settings)
    apply_definitions(store, settings)
    if counts and online:
        materialize(store, settings, source=source)
    return counts
