"""The outcome contract: what became of a listing, as the `outcomes` topic carries it.

One message per listing, keyed by its listing_id: sold (with the price) or withdrawn (no
price), after `days_on_market` days, known at `outcome_at` (UTC).
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class OutcomeKind(str, Enum):
    sold = "sold"
    withdrawn = "withdrawn"


class Outcome(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, allow_inf_nan=False)

    listing_id: str = Field(min_length=1, max_length=128)
    outcome: OutcomeKind
    sold_price: float | None = Field(default=None, gt=0)
    days_on_market: float = Field(ge=0, le=3650)
    outcome_at: datetime

    @field_validator("outcome_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        """In UTC (a naive time is taken as UTC): SQLite stores the wall time without its offset."""
        return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)

    @model_validator(mode="after")
    def _price_only_when_sold(self) -> "Outcome":
        if self.outcome is OutcomeKind.sold and self.sold_price is None:
            raise ValueError("sold_price: a sold listing needs its sold price")
        if self.outcome is OutcomeKind.withdrawn and self.sold_price is not None:
            raise ValueError("sold_price: a withdrawn listing has no sold price")
        return self
