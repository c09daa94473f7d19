"""The listing contract: what a used-car listing is, everywhere in the system.

The simulator writes it, importers map real CSVs onto it, Kafka carries it as JSON,
the service validates it. Canonical column names here are the ones in data/raw/.
"""

from __future__ import annotations

import functools
import time
import typing
from typing import ClassVar
import unicodedata
from datetime import datetime, timezone
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, create_model, field_validator
from pydantic_core import PydanticCustomError

from autovalue.keys import model_key
from autovalue.market_attributes import MarketAttribute
from autovalue.settings import Settings, get_settings

MIN_MODEL_YEAR = 1950
# A car is sold as next year's model from about mid-year: a 2026 listing may be a 2027 model.
MODEL_YEARS_AHEAD = 1
# Asking prices no real used car has, per market currency (AUTOVALUE_ASKING_PRICE_MIN/MAX override
# either bound). Other currencies: any positive finite price.
PLAUSIBLE_ASKING_PRICE: dict[str, tuple[float, float]] = {
    "IDR": (1e6, 1e11),
    "USD": (100.0, 1e7),
    "INR": (1e4, 1e9),
}
# Unicode categories refused in names: control (NUL, escapes, newlines) and format characters
# (the right-to-left override U+202E, zero-width spaces) that make a name display as another.
HIDDEN_CHARACTER_CATEGORIES = frozenset({"Cc", "Cf"})


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


DEFAULT_CURRENCY = "IDR"  # the simulated market's

# Room for the {"listing": ...} wrapper of a /valuate body around the listing itself.
LISTING_ENVELOPE_BYTES = 64


def too_large(limit: int, what: str = "a listing") -> str:
    """Why a body or a message is refused for its size: the same words at the service (413)
    and in the scorer's dead letters."""
    return f"too large: over {limit} bytes, the limit for {what}"


def asking_price_range(settings: Settings, currency: str | None = None) -> tuple[float, float]:
    """The plausible asking prices [low, high] in the market currency; (0, inf) when unknown."""
    currency = currency or settings.market_currency or DEFAULT_CURRENCY
    low, high = PLAUSIBLE_ASKING_PRICE.get(currency.upper(), (0.0, float("inf")))
    return (low if settings.asking_price_min is None else settings.asking_price_min,
            high if settings.asking_price_max is None else settings.asking_price_max)


def no_hidden_characters(value: str | None) -> str | None:
    if value is None or value.isprintable():  # the common case, in C; only the rest is looked at per character
        return value
    for position, char in enumerate(value):
        if unicodedata.category(char) in HIDDEN_CHARACTER_CATEGORIES:
            raise PydanticCustomError(
                "hidden_character", "contains the control or format character {char} at position {position}",
                {"char": f"U+{ord(char):04X}", "position": position})
    return value


class Listing(BaseModel):
    """One listing as it arrives on the `listings` topic or at the HTTP API.

    Numbers are strict (no booleans, no numeric strings; an integer is a valid float) and finite.
    Every rule raises on the field it is about, so a 422 or a dead letter names that field.
    """

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, allow_inf_nan=False)
    # The currency its asking price is in, on a market's own listing model (listing_model);
    # else AUTOVALUE_MARKET_CURRENCY, else the simulated market's.
    market_currency: ClassVar[str | None] = None

    listing_id: str = Field(min_length=1, max_length=128)
    listed_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    brand: str = Field(min_length=1, max_length=64)
    model: str = Field(min_length=1, max_length=64)
    year: int = Field(ge=MIN_MODEL_YEAR, strict=True)  # after listed_at: its check reads the date
    # Optional: many real ads leave it out (a fifth of vehicles_us); the model takes missing as a
    # value and the valuation says its confidence is lower for it (autovalue.confidence).
    mileage_km: float | None = Field(default=None, ge=0, le=2_000_000, strict=True)
    fuel: Fuel = Fuel.petrol
    transmission: Transmission = Transmission.manual
    body_type: BodyType = BodyType.other
    region: str = Field(default="unknown", min_length=1, max_length=64)
    seller_type: SellerType = SellerType.individual
    asking_price: float | None = Field(default=None, gt=0, strict=True)

    @field_validator("listed_at")
    @classmethod
    def _aware_and_not_in_future(cls, value: datetime) -> datetime:
        value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        skew = get_settings().listing_clock_skew_s
        if value.timestamp() > time.time() + skew:
            raise PydanticCustomError(
                "listed_in_future", "listing date {listed_at} is in the future (more than {skew} s ahead)",
                {"listed_at": value.isoformat(), "skew": f"{skew:g}"})
        return value

    @field_validator("year")
    @classmethod
    def _year_not_after_listing(cls, value: int, info: ValidationInfo) -> int:
        listed_at = info.data.get("listed_at")  # absent when the date itself was invalid
        if listed_at is not None and value > listed_at.year + MODEL_YEARS_AHEAD:
            raise PydanticCustomError(
                "year_after_listing", "model year {year} is more than {ahead} year after the listing date {date}",
                {"year": value, "ahead": MODEL_YEARS_AHEAD, "date": str(listed_at.date())})
        return value

    @field_validator("listing_id", "brand", "model", "region")
    @classmethod
    def _no_hidden_characters(cls, value: str) -> str:
        return no_hidden_characters(value)

    @field_validator("asking_price")
    @classmethod
    def _plausible_price(cls, value: float | None) -> float | None:
        if value is None:
            return value
        settings = get_settings()
        currency = cls.market_currency or settings.market_currency or DEFAULT_CURRENCY
        low, high = asking_price_range(settings, currency)
        if not low <= value <= high:
            raise PydanticCustomError(
                "implausible_price", "asking price {price} is outside the plausible range {low} .. {high} {currency}",
                {"price": f"{value:g}", "low": f"{low:g}", "high": f"{high:g}", "currency": currency})
        return value

    @property
    def model_key(self) -> str:
        return model_key(self.brand, self.model)


# Everything below derives from Listing, the one declaration of a listing's fields: Feast's
# request schema, the feature inputs, the training columns, the stored columns, the simulator's
# messages and the market files' columns are computed from these, so a field is added in one place.
IDENTITY_FIELDS = ("listing_id", "listed_at")
PRICE_FIELDS = ("asking_price",)
LISTING_FIELDS: list[str] = list(Listing.model_fields)  # a message's fields, in order
# The car's own attributes: what the feature service takes besides the listing date.
CAR_ATTRIBUTES: list[str] = [name for name in LISTING_FIELDS if name not in IDENTITY_FIELDS + PRICE_FIELDS]
ENUM_COLUMNS: dict[str, type[Enum]] = {
    name: field.annotation for name, field in Listing.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, Enum)}


def _kind(annotation) -> str:
    types = set(typing.get_args(annotation)) - {type(None)} or {annotation}  # `float | None` is a number
    if types == {int}:
        return "integer"
    if types == {float}:
        return "number"
    if types == {datetime}:
        return "time"
    return "text"  # str, or an Enum of str (stored and fed by its value)


FIELD_KINDS: dict[str, str] = {name: _kind(field.annotation) for name, field in Listing.model_fields.items()}
ATTRIBUTE_KINDS: dict[str, str] = {name: FIELD_KINDS[name] for name in CAR_ATTRIBUTES}
# Canonical columns of data/raw/ tables: a listing, then what became of it. Nullable ones may be
# missing in real data; the required ones are the Listing's fields without a default.
CANONICAL_COLUMNS: list[str] = [*LISTING_FIELDS, "sold_at", "sold_price"]
# Why each is required: listing_id names the valuation (its row, its dead letter); brand and model
# are the entity keys every market statistic and fallback hangs on; year is the car's age, the
# largest single term of its value, that no market statistic can stand in for.
REQUIRED_COLUMNS: list[str] = [name for name, field in Listing.model_fields.items() if field.is_required()]


def plain(value):
    """A listing field's value as data: an Enum member's value, anything else as it is."""
    return value.value if isinstance(value, Enum) else value


def attribute_columns(listings, attributes: tuple[MarketAttribute, ...] = ()) -> dict[str, list]:
    """Validated listings -> the canonical columns feature_inputs takes (listed_at, the car's
    attributes, enum values rather than members, and the market's own attributes, None when
    a listing has none)."""
    columns = {"listed_at": [x.listed_at for x in listings]}
    for name in CAR_ATTRIBUTES:
        columns[name] = [plain(getattr(x, name)) for x in listings]
    for attribute in attributes:
        columns[attribute.name] = [getattr(x, attribute.name, None) for x in listings]
    return columns


MAX_CATEGORY_CHARS = 64
NUMBER_LIMIT = 1e12  # no real car attribute is larger; a larger one is a unit or parsing slip


@functools.lru_cache(maxsize=32)
def listing_model(attributes: tuple[MarketAttribute, ...] = (), currency: str | None = None) -> type[Listing]:
    """The Listing of a market: its asking prices in its `currency`, and the attributes it brings,
    each one optional (a listing without it is still valued; XGBoost takes missing as a value),
    a number strict and finite, a category a short printable text. Neither: Listing itself."""
    if not attributes and not currency:
        return Listing
    fields = {}
    for attribute in attributes:
        if attribute.kind == "number":
            fields[attribute.name] = (float | None, Field(default=None, strict=True, ge=-NUMBER_LIMIT, le=NUMBER_LIMIT))
        else:
            fields[attribute.name] = (str | None, Field(default=None, min_length=1, max_length=MAX_CATEGORY_CHARS))
    categories = [a.name for a in attributes if a.kind == "category"]
    validators = {}
    if categories:
        validators["_categories_printable"] = field_validator(*categories)(
            lambda cls, value: no_hidden_characters(value))
    model = create_model("MarketListing", __base__=Listing, __validators__=validators,
                         __doc__=f"A listing with its market's attributes: {', '.join(a.name for a in attributes) or 'none'}.",
                         **fields)
    model.market_currency = currency
    return model
