"""`autovalue simulate`: realistic new listings on the topic, at a steady rate, some malformed."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter
from datetime import datetime, timezone

import numpy as np

from autovalue.kafka_clients import json_producer
from autovalue.settings import Settings
from market.simulator import MarketSimulator

log = logging.getLogger(__name__)

LISTING_FIELDS = ["listing_id", "brand", "model", "year", "mileage_km", "fuel", "transmission",
                  "body_type", "region", "seller_type", "asking_price"]


def _malformed(kind: str, listing: dict) -> bytes:
    broken = dict(listing)
    if kind == "not_json":
        return b'{"listing_id": "' + listing["listing_id"].encode() + b'", "brand": '
    if kind == "not_utf8":
        return b'{"listing_id": "\xff\xfe"}'
    if kind == "not_object":
        return json.dumps([listing["listing_id"]]).encode()
    if kind == "missing_field":
        broken.pop("brand")
    elif kind == "negative_mileage":
        broken["mileage_km"] = -1500
    elif kind == "future_year":
        broken["year"] = datetime.now(timezone.utc).year + 2
    elif kind == "unknown_fuel":
        broken["fuel"] = "steam"
    elif kind == "wrong_type":
        broken["year"] = "two thousand"
    return json.dumps(broken).encode()


MALFORMED_KINDS = ["not_json", "not_utf8", "not_object", "missing_field", "negative_mileage",
                   "future_year", "unknown_fuel", "wrong_type"]


class ListingFactory:
    """New listings drawn from the market simulator's latest day, dated now."""

    def __init__(self, settings: Settings, seed: int | None = None) -> None:
        today = datetime.now(timezone.utc).date()
        self.market = MarketSimulator(seed=settings.market_seed, end=today, days=settings.market_days)
        self.rng = np.random.default_rng(seed)
        self.run_id = uuid.uuid4().hex[:8]
        self.made = 0

    def batch(self, n: int) -> list[dict]:
        frame = self.market.listings(n, self.rng, day_index=np.full(n, self.market.days),
                                     id_prefix=f"live-{self.run_id}", id_offset=self.made)
        self.made += n
        now = datetime.now(timezone.utc).isoformat()
        rows = frame[LISTING_FIELDS].to_dict("records")
        for row in rows:
            row["listed_at"] = now
            row["year"] = int(row["year"])
        return rows


def simulate(settings: Settings, rate: float, duration_s: float, bad_share: float = 0.0,
             seed: int | None = None) -> Counter:
    """Produce for `duration_s` at `rate` listings/s; returns counts by kind ('valid' or a malformed kind)."""
    factory = ListingFactory(settings, seed)
    producer = json_producer(settings, linger_ms=10)
    counts: Counter = Counter()
    rng = np.random.default_rng(seed)
    started = time.monotonic()
    total = int(rate * duration_s)
    tick = 0.01
    sent = 0
    try:
        while sent < total:
            due = min(total, int((time.monotonic() - started) * rate) + 1)
            if due > sent:
                for listing in factory.batch(due - sent):
                    if bad_share and rng.random() < bad_share:
                        kind = MALFORMED_KINDS[rng.integers(len(MALFORMED_KINDS))]
                        producer.send(settings.topic_listings, key=listing["listing_id"], value=_malformed(kind, listing))
                    else:
                        kind = "valid"
                        producer.send(settings.topic_listings, key=listing["listing_id"], value=listing)
                    counts[kind] += 1
                sent = due
            time.sleep(tick)
    finally:
        producer.flush()
        producer.close()
    return counts
