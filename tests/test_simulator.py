"""The listing simulator's outcomes: one per valid listing on the outcomes topic, when it falls
due on the compressed clock; deterministic under a seed; none for malformed listings."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import date

import numpy as np
import pytest

from consumers.kafka_clients import assign_from_time, partition_reader
from consumers.messages import Accepted, parse_record
from consumers.simulator import ListingFactory, OutcomeClock, simulate
from market.generate import generate_market
from market.scenarios import SHOCK_SIZE, scenario_from
from tests.streaming import isolated, read_topic


def valid_listing_ids(settings, expect: int) -> set[str]:
    """The listings on the topic that the scorer's own validation accepts."""
    consumer = partition_reader(settings, fetch_max_wait_ms=50)
    assign_from_time(consumer, settings.topic_listings, None)
    records = []
    for _ in range(100):
        records += [r for batch in consumer.poll(timeout_ms=200).values() for r in batch]
        if len(records) >= expect:
            break
    consumer.close()
    return {p.listing.listing_id for p in map(parse_record, records) if isinstance(p, Accepted)}


def strip(pairs):
    """What a seed decides: all but the run's id prefix and the clock."""
    return [({**listing, "listing_id": None, "listed_at": None}, {**outcome, "listing_id": None})
            for listing, outcome in pairs]


def test_outcomes_are_deterministic_under_a_seed_and_sales_are_not_cut(settings):
    first = ListingFactory(settings, seed=5).batch_with_outcomes(2000)
    again = ListingFactory(settings, seed=5).batch_with_outcomes(2000)
    assert strip(first) == strip(again)  # only the run's id prefix and the clock differ
    assert strip(first) != strip(ListingFactory(settings, seed=6).batch_with_outcomes(2000))
    outcomes = [o for _, o in first]
    assert all(outcome["listing_id"] == listing["listing_id"] for listing, outcome in first)
    kinds = Counter(o["outcome"] for o in outcomes)
    assert 0.55 < kinds["sold"] / len(outcomes) < 0.75  # dated today: sales are not cut at the market's end
    assert all((o["sold_price"] is None) == (o["outcome"] == "withdrawn") for o in outcomes)
    assert all(o["days_on_market"] >= 0 for o in outcomes)
    sold = [o for o in outcomes if o["outcome"] == "sold"]
    assert all(o["sold_price"] > 0 and o["sold_price"] % 100_000 == 0 for o in sold)  # rounded as in history


def test_the_clock_releases_each_outcome_after_its_days_at_the_compressed_rate():
    clock = OutcomeClock(days_per_minute=10.0)  # a simulated day every 6 s
    clock.add({"listing_id": "a", "days_on_market": 2.0}, sent_at=100.0)
    clock.add({"listing_id": "b", "days_on_market": 0.5}, sent_at=100.0)
    clock.add({"listing_id": "c", "days_on_market": 0.5}, sent_at=101.0)
    assert clock.due(102.9) == [] and len(clock) == 3
    assert [o["listing_id"] for o in clock.due(104.0)] == ["b", "c"]
    assert clock.due(111.9) == [] and [o["listing_id"] for o in clock.due(112.0)] == ["a"] and len(clock) == 0


def test_simulate_sends_one_outcome_per_valid_listing(settings):
    # 100,000 simulated days a minute: every outcome falls due within a few ms of its listing.
    settings = isolated(settings, market_days_per_minute=100_000.0)
    done = simulate(settings, rate=400, duration_s=1.0, bad_share=0.2, seed=3)
    valid = done.listings["valid"]
    assert sum(done.listings.values()) == 400 and 250 < valid < 400
    messages = read_topic(settings, settings.topic_outcomes, expect=valid - done.outcomes_dropped)
    assert len(messages) == sum(done.outcomes.values()) == valid - done.outcomes_dropped
    assert done.outcomes_dropped < 20  # only what fell due in the last moments
    ids = [m["listing_id"] for m in messages]
    assert len(set(ids)) == len(ids)
    valid_ids = valid_listing_ids(settings, expect=400)
    assert len(valid_ids) == valid and set(ids) <= valid_ids  # malformed listings get no outcome
    for message in messages:
        assert list(message) == ["listing_id", "outcome", "sold_price", "days_on_market", "outcome_at"]
        assert message["outcome"] in ("sold", "withdrawn") and message["outcome_at"].endswith("+00:00")
        assert (message["sold_price"] is None) == (message["outcome"] == "withdrawn")
        assert math.isfinite(message["days_on_market"])
    assert "outcomes" in done.summary() and f"{done.outcomes_dropped:,} outcomes not yet due" in done.summary()


def test_outcomes_still_pending_at_the_end_are_dropped_and_counted(settings):
    settings = isolated(settings, market_days_per_minute=0.001)  # nothing falls due within the run
    done = simulate(settings, rate=200, duration_s=0.5, seed=4)
    assert done.listings["valid"] == 100 and sum(done.outcomes.values()) == 0 and done.outcomes_dropped == 100
    assert read_topic(settings, settings.topic_outcomes, expect=0, timeout_s=1) == []


@pytest.mark.parametrize("name", ["none", "shock", "launch"])
def test_each_scenario_streams_the_same_listings_and_outcomes_under_a_seed(settings, name):
    def stream(seed):
        factory = ListingFactory(settings, seed=seed, scenario=scenario_from(name, 3, "mpv"))
        return [pair for day in (0, 3, 10, 40) for pair in factory.batch_with_outcomes(300, day)]

    assert strip(stream(5)) == strip(stream(5))
    assert strip(stream(5)) != strip(stream(6))


def test_outcomes_follow_the_value_on_the_simulated_day(settings):
    """Sold prices follow the market the listing was drawn in: the moving market, then the shock.
    A listing is dated on its simulated day, so 60 days on the same car is also 60 days older:
    a history ending in March keeps both draws in one year (the same model years)."""
    generate_market(settings.raw_dir, 2_000, seed=settings.market_seed, end=date(2024, 3, 1), days=730,
                    progress=False)

    def drawn(day, scenario=None):
        pairs = ListingFactory(settings, seed=4, scenario=scenario).batch_with_outcomes(3000, day)
        return [listing for listing, _ in pairs], np.array([o["sold_price"] or np.nan for _, o in pairs])

    listings, at_start = drawn(0)
    later_listings, later = drawn(60)
    market = ListingFactory(settings).market
    models = market.history.models
    row = {(b, m): i for i, (b, m) in enumerate(zip(models["brand"], models["model"]))}
    body = np.array([listing["body_type"] for listing in listings])
    rows = np.array([row[listing["brand"], listing["model"]] for listing in listings])
    market_moved = np.exp(market.log_index(60, body, rows) - market.log_index(0, body, rows))
    sold = ~np.isnan(at_start)
    assert np.abs(market_moved[sold] - 1).max() > 0.03  # the market did move over 60 simulated days
    assert [listings[0]["listed_at"], later_listings[0]["listed_at"]] == ["2024-03-01T00:00:00+00:00",
                                                                          "2024-04-30T00:00:00+00:00"]
    aged = np.log(later[sold] / at_start[sold] / market_moved[sold])  # what 60 more days of age took off
    assert aged.max() < 0.005 and aged.min() > -0.05  # up to the rounding: never worth more for its age
    assert aged.std() < 0.01 < np.log(market_moved[sold]).std()  # the market, not the age, moved the prices

    shocked_day = 3 + 14
    _, calm = drawn(shocked_day)
    _, shocked = drawn(shocked_day, scenario_from("shock", 3, "mpv"))
    mpv = body == "mpv"
    assert mpv[sold].sum() > 300
    np.testing.assert_allclose(shocked[sold & mpv] / calm[sold & mpv], 1 + SHOCK_SIZE, rtol=0.005)
    np.testing.assert_array_equal(shocked[sold & ~mpv], calm[sold & ~mpv])


def test_simulate_records_each_listing_s_simulated_day_and_the_scenario(settings):
    # 1,200 simulated days a minute: the shock (day 2 to 16) happens within the run's second.
    settings = isolated(settings, market_days_per_minute=1200.0, simulate_scenario="shock",
                        simulate_shock_segment="sedan", simulate_scenario_day=2.0)
    done = simulate(settings, rate=300, duration_s=1.0, seed=2)
    truth = json.loads(done.truth_path.read_text())
    assert done.truth_path.parent == settings.data_dir / "simulations"
    assert truth["shock"] == {"segment": "sedan", "start_day": 2.0, "days": 14.0, "size": SHOCK_SIZE, "end_day": 16.0}
    assert truth["market_days_per_minute"] == 1200.0 and truth["seed"] == 2
    days = truth["days"]
    assert sum(d["listings"] for d in days) == 300 and [d["day"] for d in days] == sorted({d["day"] for d in days})
    offsets = [int(d["first_listing"].removeprefix(truth["listing_id_prefix"] + "-")) for d in days]
    assert offsets[0] == 0 and offsets == sorted(offsets)
    market = ListingFactory(settings).market  # the same market, recomputed: its true indices were recorded
    for day in days:
        assert day["segment_index"] == pytest.approx(market.segment_index(day["day"]), abs=1e-6)
    assert f"simulated days {days[0]['day']}-{days[-1]['day']}, scenario shock" in done.summary()
    listings = read_topic(settings, settings.topic_listings, expect=300)
    assert {m["listing_id"] for m in listings} >= {d["first_listing"] for d in days}
    assert all("market_day" not in m for m in listings)  # messages keep the listing schema
