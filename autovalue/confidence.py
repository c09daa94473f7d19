"""How much a valuation knows: a confidence level with the reasons, judged per listing.

Low: the car model or brand was never seen in training, no market statistics for its model or
brand (segment level or none), or a model year before the model's first known one. Medium: only
the brand's market statistics, statistics older than a day's batch, a model year after the
newest one seen, or a mileage far outside what was seen for the car's age. High otherwise.

Each level has its own interval, calibrated in training on held-out rows made to look like that
level (training.calibration); a low-confidence valuation gets no deal rating. The facts judged
against come with the model (metadata `known_cars`), so a model judges by what it was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence

from autovalue.valuation import Confidence, Fallback

MARKET_PREFIXES = ("model_", "brand_", "segment_")
_RANK = {Confidence.high: 0, Confidence.medium: 1, Confidence.low: 2}


class ConfidenceJudge:
    def __init__(self, metadata: dict, stale_after_s: float) -> None:
        known = metadata.get("known_cars") or {}
        self.model_years: dict[str, tuple[int, int]] = {k: tuple(v) for k, v in known.get("model_years", {}).items()}
        self.brands = set(known.get("brands", []))
        self.km_per_year: list[float] | None = known.get("km_per_year")
        self.uses_market = any(f.startswith(MARKET_PREFIXES) for f in metadata.get("features", []))
        self.stale_after_s = stale_after_s

    def judge(self, listings: Sequence, model_keys: Sequence[str], brand_keys: Sequence[str],
              km_per_year: Sequence[float | None], fallback: Sequence[Fallback],
              age_s: Sequence[float | None]) -> tuple[list[Confidence], list[list[str]]]:
        """Per listing (objects with brand, model, year): its level and the reasons it is not high."""
        levels, reasons = [], []
        for i, listing in enumerate(listings):
            found: list[tuple[Confidence, str]] = []
            self._car(found, listing, model_keys[i], brand_keys[i])
            if self.uses_market:
                self._market(found, fallback[i], age_s[i])
            self._mileage(found, km_per_year[i])
            level = max((level for level, _ in found), key=_RANK.__getitem__, default=Confidence.high)
            levels.append(level)
            reasons.append([reason for _, reason in found])
        return levels, reasons

    def _car(self, found: list, listing, model_key: str, brand_key: str) -> None:
        if not self.model_years:
            return  # a model from before known_cars: nothing to judge by
        car = f"{listing.brand} {listing.model}"
        if brand_key not in self.brands:
            found.append((Confidence.low, f"brand {listing.brand} was not in the training data"))
        elif model_key not in self.model_years:
            found.append((Confidence.low, f"{car} was not in the training data"))
        else:
            first, last = self.model_years[model_key]
            if listing.year < first:
                found.append((Confidence.low, f"model year {listing.year} is before the first known {car} ({first})"))
            elif listing.year > last:
                found.append((Confidence.medium, f"model year {listing.year} is after the newest known {car} ({last})"))

    def _market(self, found: list, fallback: Fallback, age_s: float | None) -> None:
        if fallback is Fallback.brand:
            found.append((Confidence.medium, "no fresh market statistics for this model: its brand's are used"))
        elif fallback is not Fallback.model:
            found.append((Confidence.low, "no fresh market statistics for this model or brand"))
        if age_s is not None and age_s > self.stale_after_s:
            found.append((Confidence.medium, f"the market statistics are {age_s / 3600:.0f} h old"))

    def _mileage(self, found: list, km_per_year: float | None) -> None:
        if self.km_per_year is None:
            return
        if km_per_year is None:  # no mileage given: the model had to value a car of any mileage
            found.append((Confidence.medium, "no mileage given"))
            return
        low, high = self.km_per_year
        if not low <= km_per_year <= high:
            found.append((Confidence.medium, f"mileage is unusual for the car's age ({km_per_year:,.0f} km a year; "
                                             f"training saw {low:,.0f}-{high:,.0f})"))
