"""The valuation contract: what the service returns, the scorer stores and the app shows."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, TypeAdapter


class DealRating(str, Enum):
    great = "great"
    good = "good"
    fair = "fair"
    high = "high"
    overpriced = "overpriced"


class Fallback(str, Enum):
    """Which market level the valuation could lean on, finest first."""

    model = "model"
    brand = "brand"
    segment = "segment"
    none = "none"


class ValueDriver(BaseModel):
    feature: str
    label: str  # e.g. "mileage -Rp 8.2 jt"
    amount: float  # in the market's currency, relative to the model's base value


class Valuation(BaseModel):
    listing_id: str
    predicted_price: float
    price_low: float  # 80% interval
    price_high: float
    currency: str
    asking_price: float | None = None
    deal_rating: DealRating | None = None
    value_drivers: list[ValueDriver] = []
    fallback: Fallback
    model_version: str
    feature_service: str
    market_data_age_s: float | None = None  # how old the market statistics used are


# A batch of valuations, validated and written to JSON in one pydantic-core call each way.
VALUATION_LIST = TypeAdapter(list[Valuation])


def deal_rating(asking: float, predicted: float, low: float, high: float) -> DealRating:
    """Bands cut from the 80% interval: outside it is great/overpriced; inside, the middle half
    of each side of the estimate is fair, the outer half good or high."""
    if asking < low:
        return DealRating.great
    if asking > high:
        return DealRating.overpriced
    if asking < predicted - (predicted - low) / 2:
        return DealRating.good
    if asking > predicted + (high - predicted) / 2:
        return DealRating.high
    return DealRating.fair
