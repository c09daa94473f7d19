"""`autovalue simulate`: realistic new listings on the topic, at a steady rate, some malformed,
and later what became of each valid one (sold or withdrawn) on the outcomes topic.

One compressed clock, `market_days_per_minute` simulated days per real minute, runs both the
market and the outcomes. The market moves on from the history's last day (stream day 0, market.forward),
optionally under a scenario (market.scenarios); a listing is valued on the market of the
simulated day it is drawn at, and is dated on the market's own calendar (StreamCalendar), as a
replayed market's listings are: its car's age, the feed's 7-day windows and the landed history's
days are then market days, not the minutes of a compressed run. Its outcome is stamped when it is
sent (the wall clock, as a replay's), and falls due
`days_on_market` simulated days after it was sent. Those not yet due when the run ends are
dropped (counted in the summary); a malformed listing gets none. Each run writes its ground
truth (scenario, clock, and per simulated day its first listing and the segments' true value
indices) to data/simulations/<run id>.json, for a benchmark to read.
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
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from consumers.kafka_clients import json_producer
from autovalue.market_attributes import DEFAULT_SOURCE
from autovalue.schema import LISTING_FIELDS
from autovalue.settings import Settings
from market.forward import ForwardMarket
from market.io import meta_path
from market.scenarios import Scenario, scenario_from
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


def simulated_history(settings: Settings) -> MarketSimulator:
    """The simulator behind the stored simulated market (its metadata's seed, start and end),
    so the stream continues that history; the settings' market when none is stored."""
    meta_file = meta_path(settings.raw_dir, DEFAULT_SOURCE)
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    if meta.get("kind") == "simulated" and meta.get("end") and meta.get("start"):
        end, start = date.fromisoformat(meta["end"]), date.fromisoformat(meta["start"])
        return MarketSimulator(seed=int(meta["seed"]), end=end, days=(end - start).days)
    return MarketSimulator(seed=settings.market_seed, end=settings.market_end(), days=settings.market_days)


class StreamCalendar:
    """Stream day x (simulated days since the history's last midnight) -> the date a listing
    drawn then carries. Never ahead of the wall clock (a listing is not dated in the future): a
    stream that reaches today goes on in real time, and says so once."""

    def __init__(self, last_day: date) -> None:
        self.origin = datetime.combine(last_day, datetime.min.time(), tzinfo=timezone.utc)
        self.caught_up = False

    def moment(self, day: float) -> tuple[float, datetime]:
        """(the stream day, the listing date) for stream day `day`."""
        at, now = self.origin + timedelta(days=day), datetime.now(timezone.utc)
        if at <= now:
            return day, at
        if not self.caught_up:
            self.caught_up = True
            log.warning("the simulated market has reached today (stream day %.1f): it goes on in real time; "
                        "AUTOVALUE_MARKET_LEAD_DAYS sets how far before today a generated market ends", day)
        return (now - self.origin) / timedelta(days=1), now


class ListingFactory:
    """New listings drawn from the market moving on past its history (market.forward), dated on
    the market's calendar."""

    def __init__(self, settings: Settings, seed: int | None = None, scenario: Scenario | None = None) -> None:
        history = simulated_history(settings)
        self.calendar = StreamCalendar(history.end)
        self.scenario = scenario or scenario_from(settings.simulate_scenario, settings.simulate_scenario_day,
                                                  settings.simulate_shock_segment)
        self.market = ForwardMarket(history, self.scenario)
        self.rng = np.random.default_rng(seed)
        self.run_id = uuid.uuid4().hex[:8]
        self.id_prefix = f"live-{self.run_id}"
        self.made = 0

    def batch(self, n: int, day: float = 0) -> list[dict]:
        return [listing for listing, _ in self.batch_with_outcomes(n, day)]

    def batch_with_outcomes(self, n: int, day: float = 0) -> list[tuple[dict, dict]]:
        """(listing, outcome) pairs drawn on simulated stream `day` (0: the history's last day),
        dated at that moment of the market's calendar (or now, once it has reached today); an
        outcome has listing_id, outcome ("sold" | "withdrawn"), sold_price (None when withdrawn;
        around the listing's value on `day`) and days_on_market. Sales are never cut at the
        market's end date."""
        day, listed_at = self.calendar.moment(day)
        frame = self.market.listings(n, self.rng, int(day), id_prefix=self.id_prefix, id_offset=self.made)
        self.made += n
        stamp = listed_at.isoformat()
        rows = frame[MESSAGE_FIELDS].to_dict("records")
        pairs = []
        for row, sold_price, days in zip(rows, frame["sold_price"].to_numpy(), frame["days_on_market"].to_numpy()):
            row["listed_at"] = stamp
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
    scenario: str = "none"
    # Per simulated day drawn at: its first listing id, its listing count and the segments' true
    # value indices (1 on the history's first day). Listing ids are sequential within a run.
    days: dict[int, dict] = field(default_factory=dict)
    truth_path: Path | None = None

    def drew(self, day: int, first_listing: str, count: int, segment_index: dict[str, float]) -> None:
        if day not in self.days:
            log.info("simulated day %d: listings from %s on", day, first_listing)
            self.days[day] = {"day": day, "first_listing": first_listing, "listings": 0,
                              "segment_index": {s: round(v, 6) for s, v in segment_index.items()}}
        self.days[day]["listings"] += count

    def summary(self) -> str:
        def counts(counter: Counter) -> str:
            return ", ".join(f"{k} {v:,}" for k, v in sorted(counter.items())) or "none"

        drawn = f"simulated days {min(self.days)}-{max(self.days)}" if self.days else "no simulated day"
        return (f"produced {sum(self.listings.values()):,} listings ({counts(self.listings)}) and "
                f"{sum(self.outcomes.values()):,} outcomes ({counts(self.outcomes)}); "
                f"{self.outcomes_dropped:,} outcomes not yet due at the end were dropped; "
                f"{drawn}, scenario {self.scenario}, ground truth in {self.truth_path}")


def ground_truth(settings: Settings, factory: ListingFactory, started_at: datetime, seed: int | None,
                 done: Simulated) -> dict:
    """The run's scenario and clock: simulated day = minutes since `started_at` x days per minute."""
    return {"run_id": factory.run_id, "listing_id_prefix": factory.id_prefix,
            "started_at": started_at.isoformat(), "stream_day_0": factory.calendar.origin.isoformat(), "market_days_per_minute": settings.market_days_per_minute,
            "market_seed": settings.market_seed, "history_days": settings.market_days, "seed": seed,
            **factory.scenario.ground_truth(), "days": [done.days[d] for d in sorted(done.days)]}


def write_json(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(content, indent=1))
    partial.replace(path)  # a reader never sees half a file


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
    """Produce for `duration_s` at `rate` listings/s, each drawn on the market of the simulated
    day it is sent at, and each valid listing's outcome when it falls due within that time."""
    factory = ListingFactory(settings, seed)
    producer = json_producer(settings, linger_ms=10)
    done = Simulated(scenario=factory.scenario.name,
                     truth_path=settings.data_dir / "simulations" / f"{factory.run_id}.json")
    clock = OutcomeClock(settings.market_days_per_minute)  # the market's clock too
    rng = np.random.default_rng(seed)
    started, started_at = time.monotonic(), datetime.now(timezone.utc)
    write_json(done.truth_path, ground_truth(settings, factory, started_at, seed, done))
    total = int(rate * duration_s)
    tick = 0.01
    sent = 0
    try:
        while sent < total:
            now = time.monotonic()
            due = min(total, int((now - started) * rate) + 1)
            if due > sent:
                day, _ = factory.calendar.moment((now - started) / clock.seconds_per_day)
                pairs = factory.batch_with_outcomes(due - sent, day)
                done.drew(int(day), pairs[0][0]["listing_id"], len(pairs), factory.market.segment_index(int(day)))
                for listing, outcome in pairs:
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
        write_json(done.truth_path, ground_truth(settings, factory, started_at, seed, done))
    done.outcomes_dropped = len(clock)
    return done
