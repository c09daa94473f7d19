"""The simulated market continued past its history's last day: what the live stream draws from.

Stream day 0 is the history's last day, the same indices to the bit. Each later day takes one
more step of the history's own processes: each segment's random walk (its drift, the same daily
sigma) and each car model's AR(1) demand shock (the same persistence and sigma). A day's steps
come from a generator keyed on (market seed, FORWARD_KEY, day), so the market is the same under a
seed however far ahead it is asked and by whom. A scenario (market.scenarios) moves it further.

A listing drawn on stream day d is dated on that day of the market's calendar (the history's last
day + d), so its car's age, and its value, are those of that day.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from market.scenarios import Scenario
from market.simulator import MODEL_SHOCK_PERSISTENCE, MODEL_SHOCK_SIGMA, SEGMENT_DAILY_SIGMA, MarketSimulator

# The history's generators use keys [seed, 1] (market state) and [seed, 2, chunk] (listings).
FORWARD_KEY = 3
SHOCK_INNOVATION_SIGMA = MODEL_SHOCK_SIGMA * math.sqrt(1 - MODEL_SHOCK_PERSISTENCE**2)


class ForwardMarket:
    def __init__(self, history: MarketSimulator, scenario: Scenario | None = None) -> None:
        self.history = history
        self.scenario = scenario or Scenario()
        state = history.state
        self.segments = sorted(state.segment_index)
        self.drift = np.array([state.segment_drift[s] for s in self.segments])
        catalog = history.models
        # One shock column more than the catalog, for a launched model: drawn in every scenario,
        # so the catalog's models move the same whether or not something is launched.
        self.launch_column = len(catalog)
        self.models_with_launch = pd.concat(
            [catalog, pd.DataFrame([self.scenario.launched_model(history.end.year)])], ignore_index=True)
        self._segment_log = [np.array([state.segment_index[s][-1] for s in self.segments])]
        self._shock = [np.append(state.model_shock[-1], 0.0)]

    def _extend_to(self, day: int) -> None:
        while len(self._shock) <= day:
            next_day = len(self._shock)
            rng = np.random.default_rng([self.history.seed, FORWARD_KEY, next_day])
            steps = rng.normal(self.drift, SEGMENT_DAILY_SIGMA)
            innovations = rng.normal(0.0, SHOCK_INNOVATION_SIGMA, self.launch_column + 1)
            shock = MODEL_SHOCK_PERSISTENCE * self._shock[-1] + innovations
            if next_day == math.ceil(self.scenario.start_day) and self.scenario.launches:
                shock[self.launch_column] = 0.0  # a launched model starts at its list price
            self._segment_log.append(self._segment_log[-1] + steps)
            self._shock.append(shock)

    def segment_log_index(self, day: int) -> dict[str, float]:
        """Each segment's log value index on stream day `day` (0 on the history's first day)."""
        self._extend_to(day)
        return {s: float(v) + self.scenario.segment_log_offset(s, day)
                for s, v in zip(self.segments, self._segment_log[day])}

    def segment_index(self, day: int) -> dict[str, float]:
        """Each segment's true value index on `day`: what its cars are worth against the history's first day."""
        return {s: math.exp(v) for s, v in self.segment_log_index(day).items()}

    def model_shock(self, day: int) -> np.ndarray:
        """Each car model's log demand shock on `day`: the catalog's, then the launch column."""
        self._extend_to(day)
        return self._shock[day]

    def models_on(self, day: int) -> pd.DataFrame:
        """The car models listed on `day`: the catalog, and a launched model from its day on."""
        return self.models_with_launch if self.scenario.launched(day) else self.history.models

    def log_index(self, day: int, body: np.ndarray, model: np.ndarray) -> np.ndarray:
        """Log segment index + log model shock on `day` for listings' body types and model rows."""
        by_segment = self.segment_log_index(day)
        segment_log = np.array([by_segment[b] for b in body], dtype=float)
        return segment_log + self.model_shock(day)[model]

    def listings(self, n: int, rng: np.random.Generator, day: int, **kwargs) -> pd.DataFrame:
        """n listings drawn on stream day `day`, with their outcomes (MarketSimulator.listings
        with outcomes=True: sold at their value on that day, or withdrawn)."""
        if day < 0:
            raise ValueError(f"stream day {day} is before the history's last day")
        frame = self.history.listings(
            n, rng, day_index=np.full(n, self.history.days + day), outcomes=True, models=self.models_on(day),
            market_log=lambda body, model: self.log_index(day, body, model), **kwargs)
        frame["market_day"] = day
        return frame
