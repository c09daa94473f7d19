"""`autovalue simulate`: realistic new listings on the topic, at a steady rate, some malformed,
and later what became of each valid one (sold or withdrawn) on the outcomes topic.

Outcomes fall due on a compressed clock: `outcome_days_per_minute` simulated days on the
market pass per real minute after the listing was sent. Those not yet due when the run ends
are dropped (counted in the summary); a malformed listing gets none.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from autovalue.kafka_clients import json_producer
from autovalue.schema import LISTING_FIELDS
from autovalue.settings import Settings
from market.simulator import MarketSimulator

log = logging.getLogger(__name__)

# A message's fields but the listing date, which a live listing takes from the clock.
MESSAGE_FIELDS = [name for name in LISTING_FIELDS if name != "listed_at"]


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
        return [listing for listing, _ in self.batch_with_outcomes(n)]

    def batch_with_outcomes(self, n: int) -> list[tuple[dict, dict]]:
        """(listing, outcome) pairs; an outcome has listing_id, outcome ("sold" | "withdrawn"),
        sold_price (None when withdrawn) and days_on_market. Sales are never cut at the
        market's end date: these listings are dated now."""
        frame = self.market.listings(n, self.rng, day_index=np.full(n, self.market.days),
                                     id_prefix=f"live-{self.run_id}", id_offset=self.made, outcomes=True)
        self.made += n
        now = datetime.now(timezone.utc).isoformat()
        rows = frame[MESSAGE_FIELDS].to_dict("records")
        pairs = []
        for row, sold_price, days in zip(rows, frame["sold_price"].to_numpy(), frame["days_on_market"].to_numpy()):
            row["listed_at"] = now
            row["year"] = int(row["year"])
            sold = not math.isnan(sold_price)
            pairs.append((row, {"listing_id": row["listing_id"], "outcome": "sold" if sold else "withdrawn",
                                "sold_price": float(sold_price) if sold else None,
                                "days_on_market": round(float(days), 3)}))
        return pairs


@dataclass
class Simulated:
    """What one `simulate` run produced."""

    listings: Counter = field(default_factory=Counter)  # by kind: "valid" or a malformed kind
    outcomes: Counter = field(default_factory=Counter)  # sent, by outcome
    outcomes_dropped: int = 0  # not yet due when the run ended

    def summary(self) -> str:
        def counts(counter: Counter) -> str:
            return ", ".join(f"{k} {v:,}" for k, v in sorted(counter.items())) or "none"

        return (f"produced {sum(self.listings.values()):,} listings ({counts(self.listings)}) and "
                f"{sum(self.outcomes.values()):,} outcomes ({counts(self.outcomes)}); "
                f"{self.outcomes_dropped:,} outcomes not yet due at the end were dropped")


class OutcomeClock:
    """Outcomes waiting for their time: `days_on_market` simulated days after the listing was
    sent, at `days_per_minute` simulated days per real minute."""

    def __init__(self, days_per_minute: float) -> None:
        self.seconds_per_day = 60.0 / days_per_minute
        self.waiting: list[tuple[float, int, dict]] = []
        self.added = 0

    def add(self, outcome: dict, sent_at: float) -> None:
        heapq.heappush(self.waiting, (sent_at + outcome["days_on_market"] * self.seconds_per_day, self.added, outcome))
        self.added += 1

    def due(self, now: float) -> list[dict]:
        out = []
        while self.waiting and self.waiting[0][0] <= now:
            out.append(heapq.heappop(self.waiting)[2])
        return out

    def __len__(self) -> int:
        return len(self.waiting)


def simulate(settings: Settings, rate: float, duration_s: float, bad_share: float = 0.0,
             seed: int | None = None) -> Simulated:
    """Produce for `duration_s` at `rate` listings/s, and each valid listing's outcome when it
    falls due within that time."""
    factory = ListingFactory(settings, seed)
    producer = json_producer(settings, linger_ms=10)
    done = Simulated()
    clock = OutcomeClock(settings.outcome_days_per_minute)
    rng = np.random.default_rng(seed)
    started = time.monotonic()
    total = int(rate * duration_s)
    tick = 0.01
    sent = 0
    try:
        while sent < total:
            now = time.monotonic()
            due = min(total, int((now - started) * rate) + 1)
            if due > sent:
                for listing, outcome in factory.batch_with_outcomes(due - sent):
                    if bad_share and rng.random() < bad_share:
                        kind = MALFORMED_KINDS[rng.integers(len(MALFORMED_KINDS))]
                        producer.send(settings.topic_listings, key=listing["listing_id"], value=_malformed(kind, listing))
                    else:
                        kind = "valid"
                        producer.send(settings.topic_listings, key=listing["listing_id"], value=listing)
                        clock.add(outcome, now)
                    done.listings[kind] += 1
                sent = due
            for outcome in clock.due(now):
                outcome = {**outcome, "outcome_at": datetime.now(timezone.utc).isoformat()}
                producer.send(settings.topic_outcomes, key=outcome["listing_id"], value=outcome)
                done.outcomes[outcome["outcome"]] += 1
            time.sleep(tick)
    finally:
        producer.flush()
        producer.close()
    done.outcomes_dropped = len(clock)
    return done
