"""The listing contract: what a used-car listing is, everywhere in the system.

The simulator writes it, importers map real CSVs onto it, Kafka carries it as JSON,
the service validates it. Canonical column names here are the ones in data/raw/.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from autovalue.keys import model_key

MIN_MODEL_YEAR = 1950


class Fuel(str, Enum):
    petrol = "petrol"
    diesel = "diesel"
    hybrid = "hybrid"
    electric = "electric"
    lpg = "lpg"
    other = "other"


class Transmission(str, Enum):
    manual = "manual"
    automatic = "automatic"
    other = "other"


class BodyType(str, Enum):
    mpv = "mpv"
    suv = "suv"
    hatchback = "hatchback"
    sedan = "sedan"
    pickup = "pickup"
    van = "van"
    wagon = "wagon"
    coupe = "coupe"
    convertible = "convertible"
    other = "other"


class SellerType(str, Enum):
    dealer = "dealer"
    individual = "individual"
    other = "other"


ENUM_COLUMNS: dict[str, type[Enum]] = {
    "fuel": Fuel,
    "transmission": Transmission,
    "body_type": BodyType,
    "seller_type": SellerType,
}

# Canonical columns of data/raw/ tables, in order. Nullable ones may be missing in real data.
CANONICAL_COLUMNS: list[str] = [
    "listing_id",
    "listed_at",
    "brand",
    "model",
    "year",
    "mileage_km",
    "fuel",
    "transmission",
    "body_type",
    "region",
    "seller_type",
    "asking_price",
    "sold_at",
    "sold_price",
]
REQUIRED_COLUMNS: list[str] = ["listing_id", "brand", "model", "year", "mileage_km"]


class Listing(BaseModel):
    """One listing as it arrives on the `listings` topic or at the HTTP API."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, allow_inf_nan=False)

    listing_id: str = Field(min_length=1, max_length=128)
    listed_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    brand: str = Field(min_length=1, max_length=64)
    model: str = Field(min_length=1, max_length=64)
    year: int = Field(ge=MIN_MODEL_YEAR)
    mileage_km: float = Field(ge=0, le=2_000_000)
    fuel: Fuel = Fuel.petrol
    transmission: Transmission = Transmission.manual
    body_type: BodyType = BodyType.other
    region: str = Field(default="unknown", max_length=64)
    seller_type: SellerType = SellerType.individual
    asking_price: float | None = Field(default=None, gt=0)

    @field_validator("listed_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)

    @model_validator(mode="after")
    def _year_not_after_listing(self) -> "Listing":
        if self.year > self.listed_at.year:
            raise ValueError(
                f"year: model year {self.year} is after the listing date {self.listed_at.date()}"
            )
        return self

    @property
    def model_key(self) -> str:
        return model_key(self.brand, self.model)
