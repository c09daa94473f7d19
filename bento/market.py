"""Online feature reads for valuations: the feature service from Feast, with the market level
each listing can lean on (its fallback) and how old those market statistics are.

Market statistics change when the market feed pushes them (every few seconds), while a streaming
batch asks for the same few dozen car models again and again: each key's row is kept for
`cache_s` (settings.service_feature_cache_s, 0 = off), which takes the Feast round trip out of
most batches at the price of statistics up to that much older (reported in market_data_age_s).

Feast does not enforce a view's TTL online (it returns months-old rows), while training's
point-in-time joins do (an expired row is NULL there). So a row further than its view's TTL from
the listing's own moment (`listed_at`, not the wall clock: a replayed or simulated market runs on
its own calendar) is blanked here: the model sees what it saw in training, and the fallback moves
to a coarser level. A row newer than the listing (the feed has seen later listings) counts as
fresh within the same TTL: the online store holds no older one to give.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cachetools import TTLCache
from feast import FeatureStore

from autovalue.valuation import Fallback
from feature_repo.service_features import ServiceFeatures

# The market views of a valuation feature service, finest first: the fallback order.
LEVEL_VIEWS: dict[str, Fallback] = {
    "model_market": Fallback.model,
    "brand_market": Fallback.brand,
    "segment_market": Fallback.segment,
}
TIMESTAMP_SUFFIX = "__ts"  # feast.online_response.TIMESTAMP_POSTFIX


@dataclass
class Level:
    fallback: Fallback
    features: list[str]
    ttl_s: float | None  # None: the view never expires


@dataclass
class MarketRead:
    features: dict[str, list]  # feature name -> one value per listing (stale levels blanked)
    fallback: list[Fallback]
    age_s: list[float | None]  # age of the fallback level's statistics at the listing's moment (>= 0)
    stamp_s: list[float | None]  # their event time (epoch s); None without market


class MarketReader:
    def __init__(self, store: FeatureStore, service_name: str, cache_s: float = 0.0, cache_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic, model_features: Sequence[str] | None = None):
        self.store = store
        self.cache: TTLCache | None = TTLCache(maxsize=cache_keys, ttl=cache_s, timer=clock) if cache_s > 0 else None
        self.cache_lock = threading.Lock()  # BentoML runs sync endpoints in a thread pool
        self.names: list[str] | None = None  # market features and their timestamps, as read
        self.service = store.get_feature_service(service_name)
        # Reads each distinct market key once and runs the on-demand view's registered transform:
        # the same values as get_online_features(service), several times faster for a batch
        # (bench/README.md).
        self.reader = ServiceFeatures(store, service_name)
        self.levels: list[Level] = []
        for projection in self.service.feature_view_projections:
            # A market's own views carry its name as a prefix (feature_repo.definitions).
            fallback = LEVEL_VIEWS.get(projection.name.rsplit("__", 1)[-1])
            if fallback is None:
                continue  # on-demand (request-time) features: always present
            view = store.get_feature_view(projection.name)
            ttl = view.ttl.total_seconds() if view.ttl else None
            self.levels.append(Level(fallback, [f.name for f in projection.features], ttl or None))
        order = list(LEVEL_VIEWS.values())
        self.levels.sort(key=lambda level: order.index(level.fallback))
        if model_features is not None:
            # Only the market levels the model uses: a model trained without market features
            # (an undated file) leans on no market, whatever statistics the store holds.
            used = set(model_features)
            self.levels = [level for level in self.levels if used & set(level.features)]

    def read(self, entity_rows: Mapping[str, Sequence]) -> MarketRead:
        """`entity_rows`: autovalue.feature_inputs output, whose `listed_at_epoch` is each
        listing's moment: the market statistics are judged fresh or stale at it."""
        read_market = self._cached_market if self.cache is not None else None
        values = self.reader.read_online(entity_rows, with_timestamps=True, read_market=read_market)
        n = len(next(iter(entity_rows.values())))
        moments = entity_rows["listed_at_epoch"]
        fallback: list[Fallback] = [Fallback.none] * n
        age: list[float | None] = [None] * n
        stamp_at: list[float | None] = [None] * n
        for level in self.levels:
            if not level.features:
                continue
            stamps = values[level.features[0] + TIMESTAMP_SUFFIX]  # one event time per view row
            for i, stamp in enumerate(stamps):
                fresh = stamp > 0 and (level.ttl_s is None or abs(moments[i] - stamp) <= level.ttl_s)
                if not fresh:
                    for name in level.features:
                        values[name][i] = None
                elif fallback[i] is Fallback.none:
                    fallback[i], age[i], stamp_at[i] = level.fallback, max(moments[i] - stamp, 0.0), float(stamp)
        features = {name: column for name, column in values.items() if not name.endswith(TIMESTAMP_SUFFIX)}
        return MarketRead(features, fallback, age, stamp_at)

    def _cached_market(self, keys: list[tuple]) -> dict[str, list]:
        """ServiceFeatures.read_market with timestamps, each key's row kept for `cache_s`."""
        with self.cache_lock:
            rows = {key: self.cache.get(key) for key in keys}
        missing = [key for key, row in rows.items() if row is None]
        if missing:
            read = self.reader.read_market(missing, with_timestamps=True)
            self.names = self.names or list(read)
            for i, key in enumerate(missing):
                rows[key] = tuple(read[name][i] for name in self.names)
            with self.cache_lock:
                for key in missing:
                    self.cache[key] = rows[key]
        return {name: [rows[key][j] for key in keys] for j, name in enumerate(self.names)}
