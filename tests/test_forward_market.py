"""The market the stream draws from: one continuous market with the history, moving with the
history's own processes, deterministic under the seed, and moved further by named scenarios."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from market.catalog import catalog
from market.forward import SHOCK_INNOVATION_SIGMA, ForwardMarket
from market.scenarios import LAUNCHED_MODEL, SCENARIOS, SHOCK_DAYS, SHOCK_SIZE, Scenario, scenario_from
from market.simulator import MODEL_SHOCK_PERSISTENCE, SEGMENT_DAILY_SIGMA, MarketSimulator

END = date(2026, 6, 30)
DAYS = 730
START = 5  # the scenarios' start day in these tests


@pytest.fixture(scope="module")
def history():
    return MarketSimulator(seed=7, end=END, days=DAYS)


def forward(history, name="none", segment="suv"):
    """The forward market under a scenario starting on day START."""
    return ForwardMarket(history, scenario_from(name, START, segment))


def test_the_stream_continues_the_history_without_a_jump(history):
    market = forward(history)
    state = history.state
    # Stream day 0 is the history's last day, to the bit.
    assert market.segment_log_index(0) == {s: state.segment_index[s][-1] for s in state.segment_index}
    np.testing.assert_array_equal(market.model_shock(0)[:len(history.models)], state.model_shock[-1])
    # Its next steps are the size of the history's own daily steps, not a jump.
    for segment, index in state.segment_index.items():
        history_step = np.abs(np.diff(index)).max()
        assert abs(market.segment_log_index(1)[segment] - index[-1]) <= history_step
    shock_step = np.abs(np.diff(state.model_shock, axis=0)).max()
    assert np.abs(market.model_shock(1)[:len(history.models)] - state.model_shock[-1]).max() <= shock_step
    # Listings drawn on stream day 0 are the history simulator's listings on its last day.
    streamed = market.listings(3000, np.random.default_rng(1), day=0).drop(columns="market_day")
    last_day = history.listings(3000, np.random.default_rng(1), day_index=np.full(3000, DAYS), outcomes=True)
    pd.testing.assert_frame_equal(streamed, last_day)


def test_the_market_keeps_moving_with_the_history_processes(history):
    market = forward(history)
    days = 400
    segment_log = np.array([list(market.segment_log_index(d).values()) for d in range(days + 1)])
    steps = np.diff(segment_log, axis=0)
    assert steps.std() == pytest.approx(SEGMENT_DAILY_SIGMA, rel=0.1)
    drift = np.array([history.state.segment_drift[s] for s in sorted(history.state.segment_index)])
    np.testing.assert_allclose(steps.mean(axis=0), drift, atol=4 * SEGMENT_DAILY_SIGMA / np.sqrt(days))
    shock = np.array([market.model_shock(d) for d in range(days + 1)])
    innovations = shock[1:] - MODEL_SHOCK_PERSISTENCE * shock[:-1]
    assert innovations.std() == pytest.approx(SHOCK_INNOVATION_SIGMA, rel=0.05)


def test_the_market_is_the_same_under_its_seed_whoever_asks_first(history):
    sequential, jump = forward(history), forward(history)
    far = jump.segment_log_index(60)  # asked first, before any day in between
    assert [sequential.segment_log_index(d) for d in range(61)][-1] == far
    np.testing.assert_array_equal(sequential.model_shock(60), jump.model_shock(60))
    other_seed = forward(MarketSimulator(seed=8, end=END, days=DAYS))
    assert other_seed.segment_log_index(60) != far


@pytest.mark.parametrize("name", ["none", "shock", "launch", "shock+launch"])
def test_each_scenario_is_deterministic_under_a_seed(history, name):
    def draw(market_seed, stream_seed):
        market = forward(MarketSimulator(seed=market_seed, end=END, days=DAYS), name)
        rng = np.random.default_rng(stream_seed)
        return pd.concat([market.listings(300, rng, day) for day in (0, START, START + 10)], ignore_index=True)

    first = draw(7, 5)
    pd.testing.assert_frame_equal(first, draw(7, 5))
    assert not np.allclose(first["true_value"], draw(7, 6)["true_value"])
    assert not np.allclose(first["true_value"], draw(8, 5)["true_value"])


def test_the_shock_reprices_its_segment_by_15_percent_over_two_weeks_and_no_other(history):
    calm, shocked = forward(history), forward(history, "shock", "suv")
    for day in range(0, START + 1):
        assert shocked.segment_log_index(day) == calm.segment_log_index(day)
    relative = {day: np.exp(shocked.segment_log_index(day)["suv"] - calm.segment_log_index(day)["suv"])
                for day in range(START, START + 20)}
    assert relative[START + 7] == pytest.approx(1 + SHOCK_SIZE / 2, abs=1e-12)  # linear
    assert relative[START + 14] == pytest.approx(1 + SHOCK_SIZE, abs=1e-12) == relative[START + 19]  # and stays
    realised = {s: shocked.segment_index(START + 14)[s] / shocked.segment_index(START)[s] for s in shocked.segments}
    assert realised["suv"] == pytest.approx(0.85, abs=0.04)  # the segment's own walk goes on underneath
    for segment in set(shocked.segments) - {"suv"}:
        assert shocked.segment_index(START + 14)[segment] == calm.segment_index(START + 14)[segment]
        assert realised[segment] == pytest.approx(1.0, abs=0.04)
    # Listings' true values: the same cars drawn on the same day are worth 15% less in the segment only.
    day = START + 14
    cars_calm = calm.listings(4000, np.random.default_rng(3), day)
    cars_shocked = shocked.listings(4000, np.random.default_rng(3), day)
    ratio = cars_shocked["true_value"] / cars_calm["true_value"]
    suv = cars_calm["body_type"] == "suv"
    np.testing.assert_allclose(ratio[suv], 1 + SHOCK_SIZE, rtol=1e-12)
    np.testing.assert_allclose(ratio[~suv], 1.0, rtol=1e-12)
    assert shocked.scenario.ground_truth()["shock"] == {
        "segment": "suv", "start_day": START, "days": SHOCK_DAYS, "size": SHOCK_SIZE, "end_day": START + SHOCK_DAYS}


def test_the_launched_model_is_new_and_listed_only_from_its_day(history):
    launched = forward(history, "launch")
    name = LAUNCHED_MODEL["model"]
    known = catalog()
    assert name not in set(known["model"])  # so the history never listed it
    assert LAUNCHED_MODEL["brand"] in set(known["brand"]) and LAUNCHED_MODEL["body_type"] in set(known["body_type"])
    for day in range(START):
        assert name not in set(launched.listings(2000, np.random.default_rng(day), day)["model"])
    share = LAUNCHED_MODEL["popularity"] / (known["popularity"].sum() + LAUNCHED_MODEL["popularity"])
    on_day = launched.listings(20_000, np.random.default_rng(9), START)
    new = on_day[on_day["model"] == name]
    assert len(new) / len(on_day) == pytest.approx(share, rel=0.2)
    assert (new["year"] == END.year).all() and (new["body_type"] == "suv").all()
    # Priced like its peers: between Toyota's smaller and bigger SUV of about its (new) age.
    young = on_day[on_day["year"] >= END.year - 1].groupby("model")["true_value"].median()
    assert young["Raize"] < young[name] < young["Corolla Cross"]
    assert name in set(launched.listings(500, np.random.default_rng(1), START + 30)["model"])
    # The catalog's models move as they do without the launch.
    np.testing.assert_array_equal(launched.model_shock(START + 30)[:len(known)],
                                  forward(history).model_shock(START + 30)[:len(known)])


def test_shock_and_launch_together_are_each_as_alone(history):
    both, shocked, launched = forward(history, "shock+launch"), forward(history, "shock"), forward(history, "launch")
    day = START + 20
    assert both.segment_log_index(day) == shocked.segment_log_index(day)
    np.testing.assert_array_equal(both.model_shock(day), launched.model_shock(day))
    cars_both = both.listings(3000, np.random.default_rng(4), day)
    cars_launched = launched.listings(3000, np.random.default_rng(4), day)
    assert list(cars_both["model"]) == list(cars_launched["model"]) and LAUNCHED_MODEL["model"] in set(cars_both["model"])
    suv = cars_both["body_type"] == "suv"
    np.testing.assert_allclose((cars_both["true_value"] / cars_launched["true_value"])[suv], 1 + SHOCK_SIZE, rtol=1e-12)
    np.testing.assert_allclose(cars_both["true_value"][~suv], cars_launched["true_value"][~suv], rtol=1e-12)
    truth = both.scenario.ground_truth()
    assert truth["shock"] == shocked.scenario.ground_truth()["shock"] and truth["launch"] == launched.scenario.ground_truth()["launch"]


def test_the_settings_offer_every_scenario():
    from typing import get_args

    from autovalue.settings import Settings
    assert get_args(Settings.model_fields["simulate_scenario"].annotation) == SCENARIOS


def test_scenarios_refuse_what_does_not_exist():
    with pytest.raises(ValueError, match="unknown segment 'boat'"):
        Scenario("shock", START, "boat")
    with pytest.raises(ValueError, match="unknown scenario"):
        Scenario("crash", START)
    with pytest.raises(ValueError, match="before the stream starts"):
        Scenario("launch", -1)
