"""Named market scenarios for the live stream (`autovalue simulate --scenario`), and their
ground truth for a benchmark.

Days are simulated days of the stream: day 0 is the history's last day (market.forward).
- none: the moving market alone.
- shock: one segment re-prices by SHOCK_SIZE (-15%), linearly over SHOCK_DAYS (14), from
  `start_day` on, and stays there (the segment's random walk goes on underneath).
- launch: LAUNCHED_MODEL, a new model of an existing brand in an existing segment that the
  catalog (so the history) never had, is listed from `start_day` on, priced like its peers.
- shock+launch: both, from the same `start_day` (the closed-loop benchmark's stream).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from market.catalog import BRAND_DEPRECIATION, catalog

SCENARIOS = ("none", "shock", "launch", "shock+launch")
SHOCK_SIZE = -0.15
SHOCK_DAYS = 14.0
# Toyota's small SUV, between the Raize (245) and the Corolla Cross (540): a plausible new price
# (million Rp), its fuels, automatic share and popularity (the Rush's: ~2% of listings).
LAUNCHED_MODEL = {"brand": "Toyota", "model": "Yaris Cross", "body_type": "suv", "new_price_m": 350,
                  "fuels": "petrol|hybrid", "automatic_share": 0.85, "popularity": 5}


@dataclass(frozen=True)
class Scenario:
    name: str = "none"
    start_day: float = 0.0  # of the shock or the launch
    segment: str | None = None  # the shocked segment

    @property
    def shocks(self) -> bool:
        return self.name in ("shock", "shock+launch")

    @property
    def launches(self) -> bool:
        return self.name in ("launch", "shock+launch")

    def __post_init__(self) -> None:
        if self.name not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.name!r}: one of {', '.join(SCENARIOS)}")
        if not self.start_day >= 0:
            raise ValueError(f"start day {self.start_day} is before the stream starts")
        segments = set(catalog()["body_type"])
        if self.shocks and self.segment not in segments:
            raise ValueError(f"unknown segment {self.segment!r}: one of {', '.join(sorted(segments))}")

    def shock_share(self, day: float) -> float:
        """How much of the shock has happened by `day`: 0 before it starts, 1 once it is done."""
        if not self.shocks:
            return 0.0
        return min(max((day - self.start_day) / SHOCK_DAYS, 0.0), 1.0)

    def segment_log_offset(self, segment: str, day: float) -> float:
        """What the scenario adds to a segment's log value index on `day`."""
        if segment != self.segment:
            return 0.0
        return math.log1p(SHOCK_SIZE * self.shock_share(day))

    def launched(self, day: float) -> bool:
        return self.launches and day >= self.start_day

    def launched_model(self, year: int) -> dict:
        """The launched model as a catalog row: first model year `year` (the stream's)."""
        return {**LAUNCHED_MODEL, "since": year, "depreciation": BRAND_DEPRECIATION[LAUNCHED_MODEL["brand"]]}

    def ground_truth(self) -> dict:
        """What a benchmark needs to know: which segment or model, from which day, how much."""
        truth: dict = {"scenario": self.name}
        if self.shocks:
            truth["shock"] = {"segment": self.segment, "start_day": self.start_day, "days": SHOCK_DAYS,
                              "size": SHOCK_SIZE, "end_day": self.start_day + SHOCK_DAYS}
        if self.launches:
            truth["launch"] = {**LAUNCHED_MODEL, "start_day": self.start_day}
        return truth


def scenario_from(name: str, start_day: float, segment: str) -> Scenario:
    """The scenario `autovalue simulate` was asked for (the segment matters to a shock only)."""
    return Scenario(name, start_day, segment if name in ("shock", "shock+launch") else None)
