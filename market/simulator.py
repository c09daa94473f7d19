"""A synthetic Indonesian used-car market whose prices follow the market at the listing date.

A listing's value = new price x depreciation(age, brand) x mileage x fuel x gearbox x region
x seller x segment index(day) x model demand shock(day). Each listing then carries a
condition term no feature can see (log-normal, sigma ~0.085) and the sale a negotiation term
(sigma 0.03): together the noise floor a perfect model cannot beat, recorded in the metadata.

Outcomes: a listing sells with a probability that falls with its asking premium, after an
exponential wait (mean 21 days, longer when asked high), at its value x condition x
negotiation. History keeps only the sales done by the market's end date. Streamed listings
(`outcomes=True`) keep every sale, and an unsold one is withdrawn after an exponential wait
with mean WITHDRAWAL_MEAN_DAYS (45 days: about the time an unsold classified stays up).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import numpy as np
import pandas as pd

from market.catalog import (
    AUTOMATIC_PREMIUM,
    DEALER_PREMIUM,
    FUEL_PREMIUM,
    REGIONS,
    catalog,
)

CONDITION_SIGMA = 0.085
NEGOTIATION_SIGMA = 0.03
ASKING_PREMIUM_MEAN = 0.05
ASKING_PREMIUM_SIGMA = 0.04
MODEL_SHOCK_SIGMA = 0.06
MODEL_SHOCK_PERSISTENCE = 0.993
SEGMENT_DAILY_SIGMA = 0.004
KM_PER_YEAR = 13_000.0
MAX_AGE_YEARS = 15
MEAN_DAYS_TO_SELL = 21.0
WITHDRAWAL_MEAN_DAYS = 45.0


@dataclass(frozen=True)
class MarketState:
    """Log market indices per day: one column per segment and one per catalog model."""

    start: date
    segment_index: dict[str, np.ndarray]
    model_shock: np.ndarray  # shape (days, models)
    segment_drift: dict[str, float]  # each segment's daily drift: the forward market keeps it


class MarketSimulator:
    def __init__(self, seed: int, end: date, days: int) -> None:
        self.seed = seed
        self.end = end
        self.days = days
        self.start = end - timedelta(days=days)
        self.models = catalog()
        self.state = self._market_state(np.random.default_rng([seed, 1]))

    def _market_state(self, rng: np.random.Generator) -> MarketState:
        segments = sorted(self.models["body_type"].unique())
        n_days = self.days + 1
        segment_index, segment_drift = {}, {}
        for segment in segments:
            drift = rng.normal(0.0, 0.0002)
            steps = rng.normal(drift, SEGMENT_DAILY_SIGMA, n_days)
            segment_index[segment] = np.cumsum(steps) - steps[0]
            segment_drift[segment] = float(drift)
        innovations = rng.normal(
            0.0,
            MODEL_SHOCK_SIGMA * np.sqrt(1 - MODEL_SHOCK_PERSISTENCE**2),
            (n_days, len(self.models)),
        )
        shock = np.empty_like(innovations)
        shock[0] = rng.normal(0.0, MODEL_SHOCK_SIGMA, len(self.models))
        for day in range(1, n_days):
            shock[day] = MODEL_SHOCK_PERSISTENCE * shock[day - 1] + innovations[day]
        return MarketState(self.start, segment_index, shock, segment_drift)

    def _listing_days(self, rng: np.random.Generator, n: int) -> np.ndarray:
        days = np.arange(self.days + 1)
        growth = np.linspace(1.0, 1.3, days.size)
        weekday = (np.array([self.start + timedelta(days=int(d)) for d in days[:7]]))
        weekend = np.array([d.weekday() >= 5 for d in weekday])
        weekly = np.where(np.resize(weekend, days.size), 1.2, 1.0)
        weights = growth * weekly
        return rng.choice(days, size=n, p=weights / weights.sum())

    def history_log_index(self, day_index: np.ndarray, body: np.ndarray, model: np.ndarray) -> np.ndarray:
        """Log segment index + log model shock of listings on their history days."""
        segment_log = np.empty(len(body))
        for segment, index in self.state.segment_index.items():
            mask = body == segment
            segment_log[mask] = index[day_index[mask]]
        return segment_log + self.state.model_shock[day_index, model]

    def listings(self, n: int, rng: np.random.Generator, day_index: np.ndarray | None = None,
                 id_prefix: str = "sim", id_offset: int = 0, outcomes: bool = False,
                 models: pd.DataFrame | None = None,
                 market_log: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> pd.DataFrame:
        """n listings; `day_index` pins their days (clipped to the simulated range).

        A moving market (market.forward) draws from its own `models` and passes `market_log`
        (body types, model rows -> log market index): the listings are dated on `day_index`
        while their value follows the market of another day.

        History (`outcomes=False`): a sale after the market's end date is left out (the listing
        is still open then). `outcomes=True` (streamed listings): every drawn sale is kept and
        an unsold listing is withdrawn after a drawn wait; the frame gets `days_on_market`
        (to the sale or the withdrawal). Both draw the same listings and sales from the same
        generator state; `outcomes=True` draws the withdrawal waits after everything else."""
        models = self.models if models is None else models
        if day_index is None:
            day_index = self._listing_days(rng, n)
        # The history's days end on its last day; a moving market (market_log) dates past it.
        day_index = np.clip(day_index, 0, self.days if market_log is None else None)
        seconds = rng.integers(7 * 3600, 22 * 3600, n)
        start_ts = pd.Timestamp(datetime.combine(self.start, time(), tzinfo=timezone.utc))
        listed_at = start_ts + pd.to_timedelta(day_index, unit="D") + pd.to_timedelta(seconds, unit="s")
        listing_year = listed_at.year.to_numpy()

        popularity = models["popularity"].to_numpy(dtype=float)
        m = rng.choice(len(models), size=n, p=popularity / popularity.sum())
        since = models["since"].to_numpy()[m]
        oldest = np.maximum(since, listing_year - MAX_AGE_YEARS)
        age_years = np.minimum(rng.gamma(2.2, 2.6, n), listing_year - oldest)
        year = np.clip(np.round(listing_year - age_years).astype(int), oldest, listing_year)
        age = np.maximum((listing_year - year) + (listed_at.dayofyear.to_numpy() - 182) / 365.25, 0.1)

        usage = rng.lognormal(0.0, 0.35, n)
        mileage = np.round(KM_PER_YEAR * age * usage / 100) * 100 + rng.integers(0, 100, n)

        fuels_by_model = [f.split("|") for f in models["fuels"]]
        fuel = np.array([fuels_by_model[i][0] for i in m], dtype=object)
        alt = rng.random(n) < 0.35
        for i in np.flatnonzero(alt):
            options = fuels_by_model[m[i]]
            fuel[i] = options[rng.integers(0, len(options))]
        automatic = rng.random(n) < models["automatic_share"].to_numpy()[m]
        region_names = list(REGIONS)
        region_mult = np.array([REGIONS[r][0] for r in region_names])
        region_share = np.array([REGIONS[r][1] for r in region_names])
        region = rng.choice(len(region_names), size=n, p=region_share / region_share.sum())
        dealer = rng.random(n) < 0.4

        body = models["body_type"].to_numpy()[m]
        log_index = self.history_log_index(day_index, body, m) if market_log is None else market_log(body, m)

        new_price = models["new_price_m"].to_numpy()[m] * 1e6 * 1.03 ** (year - 2024)
        depreciation = 0.87 * np.exp(-models["depreciation"].to_numpy()[m] * age)
        excess_km = (mileage - KM_PER_YEAR * age) / 100_000
        mileage_factor = np.exp(-0.10 * excess_km - 0.04 * mileage / 100_000)
        fuel_factor = np.array([FUEL_PREMIUM[f] for f in fuel])
        electric = fuel == "electric"
        fuel_factor[electric] = np.exp(-0.06 * age[electric])  # batteries age
        value = (
            new_price * depreciation * mileage_factor * fuel_factor
            * np.where(automatic, AUTOMATIC_PREMIUM, 1.0)
            * region_mult[region]
            * np.where(dealer, DEALER_PREMIUM, 1.0)
            * np.exp(log_index)
        )

        condition = rng.normal(0.0, CONDITION_SIGMA, n)
        premium = rng.normal(ASKING_PREMIUM_MEAN, ASKING_PREMIUM_SIGMA, n)
        asking = value * np.exp(condition + premium)
        # Listings asked well above their worth sell less often and later.
        sell_probability = 1 / (1 + np.exp(-(0.6 - 12 * (premium - ASKING_PREMIUM_MEAN))))
        days_to_sell = rng.exponential(MEAN_DAYS_TO_SELL, n) * np.exp(4 * (premium - ASKING_PREMIUM_MEAN))
        seconds_to_sell = np.round(days_to_sell * 86400)
        sold_at = listed_at + pd.to_timedelta(seconds_to_sell, unit="s")
        sold = rng.random(n) < sell_probability
        if not outcomes:
            end_ts = pd.Timestamp(datetime.combine(self.end, time(23, 59, 59), tzinfo=timezone.utc))
            sold &= sold_at <= end_ts
        sold_price = value * np.exp(condition + rng.normal(0.0, NEGOTIATION_SIGMA, n))

        ids = pd.Series(np.arange(id_offset, id_offset + n)).map(f"{id_prefix}-{{:08d}}".format)
        frame = pd.DataFrame({
            "listing_id": ids.to_numpy(),
            "listed_at": listed_at,
            "brand": models["brand"].to_numpy()[m],
            "model": models["model"].to_numpy()[m],
            "year": year.astype("int32"),
            "mileage_km": mileage.astype("float64"),
            "fuel": fuel.astype(str),
            "transmission": np.where(automatic, "automatic", "manual"),
            "body_type": body,
            "region": np.array(region_names)[region],
            "seller_type": np.where(dealer, "dealer", "individual"),
            "asking_price": np.round(asking, -5),
            "sold_at": sold_at.where(sold),
            "sold_price": np.where(sold, np.round(sold_price, -5), np.nan),
            "true_value": value,
        })
        if outcomes:
            withdrawn_after = np.round(rng.exponential(WITHDRAWAL_MEAN_DAYS, n) * 86400)
            frame["days_on_market"] = np.where(sold, seconds_to_sell, withdrawn_after) / 86400
        return frame
