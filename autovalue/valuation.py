"""The valuation contract: what the service returns, the scorer stores and the app shows."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from enum import Enum

from pydantic import BaseModel, TypeAdapter


# UUID5 namespace of valuation ids (a fixed random UUID: ids stay stable across releases).
VALUATION_ID_NAMESPACE = uuid.UUID("6f1c2b8e-5a0d-4c6e-9d3f-2b7e8a41c9d5")


def valuation_id(listing_id: str, listed_at: datetime, model_version: str) -> str:
    """The id of one valuation: the same listing version valued by the same model version
    has the same id wherever and however often it is computed (the table's key, as a UUID)."""
    when = (listed_at if listed_at.tzinfo else listed_at.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    return str(uuid.uuid5(VALUATION_ID_NAMESPACE, f"{listing_id}|{when.isoformat(timespec='microseconds')}|{model_version}"))


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


class Confidence(str, Enum):
    """How much a valuation knows (autovalue.confidence): each level has its own calibrated
    interval, and a low one gets no deal rating."""

    high = "high"
    medium = "medium"
    low = "low"


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
    confidence: Confidence = Confidence.high
    confidence_reasons: list[str] = []  # why it is not high, in words
    model_version: str
    feature_service: str
    market_data_age_s: float | None = None  # how old the market statistics used are
    # The previous champion's price for the same listing, scored in shadow since the last
    # promotion (None before one): live accuracy next to what the model it replaced would give.
    shadow_model_version: str | None = None
    shadow_price: float | None = None


# A batch of valuations, validated and written to JSON in one pydantic-core call each way.
VALUATION_LIST = TypeAdapter(list[Valuation])


def deal_rating(asking: float, predicted: float, bands: Sequence[float]) -> DealRating:
    """An asking price against what similar cars are asked, not against the sold-price estimate.

    `bands` are four log offsets from the estimate, calibrated in training on held-out asking
    prices (ModelBundle.deal_bands): their 10th, 30th, 70th and 90th percentiles of
    log(asking / estimate). Below the first: great; then good, fair, high; above the last:
    overpriced. A typical listing (asked the market's usual premium over the sold-price
    estimate) is fair, and the shares over a market are 10 / 20 / 40 / 20 / 10%."""
    offset = math.log(asking / predicted)
    great, good, fair, high = bands
    if offset < great:
        return DealRating.great
    if offset < good:
        return DealRating.good
    if offset <= fair:
        return DealRating.fair
    if offset <= high:
        return DealRating.high
    return DealRating.overpriced
