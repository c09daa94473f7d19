"""The listing's plausibility rules (autovalue.schema.Listing): each impossible value is refused
on the field it is about, the boundary values are accepted, and the scorer dead-letters the same
listings (consumers.messages) with a reason naming the field. Service side: tests/test_service.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from autovalue.schema import Listing
from autovalue.settings import get_settings
from autovalue.strict_json import may_hold_non_finite_literal, non_finite_literal
from consumers.messages import Accepted, DeadLetter, parse_record

NOW = datetime.now(timezone.utc)  # for dates far from the edge (a day ahead) only: the suite runs for minutes
GOOD = {"listing_id": "a1", "listed_at": "2026-05-01T10:00:00Z", "brand": "Toyota", "model": "Avanza",
        "year": 2020, "mileage_km": 50_000, "region": "Bali", "asking_price": 180e6}


def refused(changes: dict, json_mode: bool = False) -> list[dict]:
    """The errors of GOOD with `changes` (which must be refused)."""
    data = {**GOOD, **changes}
    with pytest.raises(ValidationError) as error:
        Listing.model_validate_json(json.dumps(data)) if json_mode else Listing.model_validate(data)
    return error.value.errors()


def assert_refused_on(field: str, changes: dict, json_mode: bool = False, message: str = "") -> None:
    errors = refused(changes, json_mode)
    assert [e["loc"] for e in errors] == [(field,)], errors
    assert message in errors[0]["msg"]


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    """The rules read get_settings() (cached): pin what they read to the defaults (IDR market),
    and set AUTOVALUE_* variables through the returned function."""
    for name in ("ASKING_PRICE_MIN", "ASKING_PRICE_MAX", "LISTING_CLOCK_SKEW_S"):
        monkeypatch.delenv(f"AUTOVALUE_{name}", raising=False)
    monkeypatch.setenv("AUTOVALUE_MARKET_CURRENCY", "IDR")
    get_settings.cache_clear()

    def set_env(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"AUTOVALUE_{name.upper()}", value)
        get_settings.cache_clear()
    yield set_env
    monkeypatch.undo()
    get_settings.cache_clear()


# 1. asking price within the currency's plausible range
@pytest.mark.parametrize("price", [1e308, 1e30, 1.01e11, 999_999.0])
def test_implausible_idr_asking_price_is_refused(price):
    assert_refused_on("asking_price", {"asking_price": price}, json_mode=True, message="plausible range")


@pytest.mark.parametrize("price", [1e6, 1e11, 1_000_000, 100_000_000_000, 150_000_000])
def test_idr_range_bounds_are_inclusive_and_an_int_is_a_price(price):
    assert Listing.model_validate_json(json.dumps({**GOOD, "asking_price": price})).asking_price == price


@pytest.mark.parametrize("currency, low, high", [("USD", 100, 1e7), ("INR", 1e4, 1e9), ("usd", 100, 1e7)])
def test_each_currency_has_its_default_range(environment, currency, low, high):
    environment(market_currency=currency)
    assert Listing.model_validate({**GOOD, "asking_price": low}).asking_price == low
    assert Listing.model_validate({**GOOD, "asking_price": high}).asking_price == high
    assert_refused_on("asking_price", {"asking_price": low * 0.99}, message=currency)
    assert_refused_on("asking_price", {"asking_price": high * 1.01})


def test_an_unknown_currency_takes_any_positive_finite_price(environment):
    environment(market_currency="EUR")
    assert Listing.model_validate({**GOOD, "asking_price": 1e30}).asking_price == 1e30
    assert Listing.model_validate({**GOOD, "asking_price": 0.01}).asking_price == 0.01
    assert_refused_on("asking_price", {"asking_price": 0})
    assert_refused_on("asking_price", {"asking_price": float("inf")})


def test_the_settings_override_either_bound(environment):
    environment(asking_price_min="5e7")  # the maximum stays IDR's default
    assert Listing.model_validate({**GOOD, "asking_price": 5e7}).asking_price == 5e7
    assert_refused_on("asking_price", {"asking_price": 4.9e7})
    assert_refused_on("asking_price", {"asking_price": 1.01e11})
    environment(asking_price_min="", asking_price_max="2e8")  # empty is unset
    assert Listing.model_validate({**GOOD, "asking_price": 1e6}).asking_price == 1e6
    assert_refused_on("asking_price", {"asking_price": 2.01e8}, message="1e+06 .. 2e+08 IDR")


# 2. strict numbers
@pytest.mark.parametrize("field", ["mileage_km", "asking_price", "year"])
@pytest.mark.parametrize("value", [True, False, "2020"])
@pytest.mark.parametrize("json_mode", [True, False], ids=["json", "python"])
def test_booleans_and_numeric_strings_are_not_numbers(field, value, json_mode):
    assert_refused_on(field, {field: value}, json_mode)


def test_an_int_is_a_valid_mileage_but_a_float_is_no_year():
    listing = Listing.model_validate_json(json.dumps({**GOOD, "mileage_km": 60000}))
    assert listing.mileage_km == 60000.0 and isinstance(listing.mileage_km, float)
    assert_refused_on("year", {"year": 2020.0}, json_mode=True)


# 3. listing date in the future
def test_a_listing_date_within_the_clock_skew_is_accepted_beyond_it_refused():
    now = datetime.now(timezone.utc)
    near = now + timedelta(seconds=240)
    assert Listing.model_validate({**GOOD, "listed_at": near.isoformat()}).listed_at == near
    assert_refused_on("listed_at", {"listed_at": (now + timedelta(seconds=400)).isoformat()}, message="future")


def test_the_clock_skew_is_a_setting(environment):
    environment(listing_clock_skew_s="3600")
    now = datetime.now(timezone.utc)
    assert Listing.model_validate({**GOOD, "listed_at": (now + timedelta(minutes=50)).isoformat()})
    assert_refused_on("listed_at", {"listed_at": (now + timedelta(minutes=70)).isoformat()})


def test_naive_dates_are_utc_and_judged_as_such():
    naive = (datetime.now(timezone.utc) + timedelta(seconds=400)).replace(tzinfo=None)
    assert_refused_on("listed_at", {"listed_at": naive.isoformat()})
    listing = Listing.model_validate({**GOOD, "listed_at": "2026-05-01T10:00:00"})
    assert listing.listed_at == datetime(2026, 5, 1, 10, tzinfo=timezone.utc)


# 4. model year at most one year after the listing date
def test_next_years_model_is_accepted_the_year_after_refused():
    assert Listing.model_validate({**GOOD, "year": 2027}).year == 2027
    assert_refused_on("year", {"year": 2028}, message="model year 2028")


def test_a_far_future_listing_is_refused_on_its_date_alone():
    assert_refused_on("listed_at", {"listed_at": "2999-01-01T00:00:00Z", "year": 2990})


def test_the_year_rule_is_reported_with_the_other_bad_fields():
    errors = refused({"year": 2030, "mileage_km": -1})
    assert [e["loc"] for e in errors] == [("year",), ("mileage_km",)]


# 5. region
@pytest.mark.parametrize("region", ["", "   ", "\t"])
def test_an_empty_region_is_refused(region):
    assert_refused_on("region", {"region": region})


def test_a_missing_region_is_unknown():
    assert Listing.model_validate({k: v for k, v in GOOD.items() if k != "region"}).region == "unknown"


# 6. control and format characters
@pytest.mark.parametrize("field", ["listing_id", "brand", "model", "region"])
@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\u202e", "\u200b", "\x85"])
def test_control_and_format_characters_are_refused(field, char):
    assert_refused_on(field, {field: f"ab{char}cd"}, json_mode=True, message=f"U+{ord(char):04X}")


@pytest.mark.parametrize("name", ["Mercedes-Benz", "Škoda Octavia", "三菱", "Toyota\u00a0Avanza", "é"])
def test_printable_and_other_unicode_names_are_kept(name):
    assert Listing.model_validate({**GOOD, "brand": name}).brand == name


def test_surrounding_whitespace_is_still_stripped():
    assert Listing.model_validate({**GOOD, "model": " \tAvanza\n"}).model == "Avanza"


# 7. non-finite literals are not JSON; the scorer dead-letters each rule's listing naming the field
@dataclass
class FakeRecord:
    value: bytes
    timestamp: int = 1_780_000_000_000
    topic: str = "listings"
    partition: int = 0
    offset: int = 7
    key: bytes | None = b"a1"


IMPOSSIBLE = {  # listing changes -> the field the reason must name
    "price_1e308": ({"asking_price": 1e308}, "asking_price"),
    "price_1e30": ({"asking_price": 1e30}, "asking_price"),
    "bool_mileage": ({"mileage_km": True}, "mileage_km"),
    "bool_price": ({"asking_price": False}, "asking_price"),
    "bool_year": ({"year": True}, "year"),
    "future_date": ({"listed_at": (NOW + timedelta(days=1)).isoformat()}, "listed_at"),
    "year_after_next": ({"year": 2028}, "year"),
    "empty_region": ({"region": "  "}, "region"),
    "nul_in_id": ({"listing_id": "a\x001"}, "listing_id"),
    "rtl_override_in_brand": ({"brand": "Toy\u202eota"}, "brand"),
    "bell_in_model": ({"model": "Ava\x07nza"}, "model"),
    "format_char_in_region": ({"region": "Ba\u200bli"}, "region"),
}


@pytest.mark.parametrize("changes, field", IMPOSSIBLE.values(), ids=IMPOSSIBLE.keys())
def test_the_scorer_dead_letters_each_impossible_listing_naming_the_field(changes, field):
    letter = parse_record(FakeRecord(json.dumps({**GOOD, **changes}).encode()))
    assert isinstance(letter, DeadLetter), letter
    assert letter.reason.startswith("invalid listing: ") and f"{field}: " in letter.reason, letter.reason
    assert (letter.topic, letter.partition, letter.offset) == ("listings", 0, 7)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("where", ["mileage_km", "ignored_extra"])
def test_the_scorer_dead_letters_non_finite_literals_as_not_json(literal, where):
    raw = json.dumps({**GOOD, where: 1.5}).replace("1.5", literal).encode()
    letter = parse_record(FakeRecord(raw))
    assert isinstance(letter, DeadLetter), letter
    assert letter.reason == f"not JSON: {literal} is not valid JSON (numbers must be finite)"
    assert letter.payload == raw.decode()


@pytest.mark.parametrize("changes", [{}, {"brand": "NaNo", "region": "Infinity Bay"}, {"year": 2027}])
def test_the_scorer_accepts_a_valid_listing_even_with_the_words_in_its_strings(changes):
    accepted = parse_record(FakeRecord(json.dumps({**GOOD, **changes}).encode()))
    assert isinstance(accepted, Accepted), accepted
    assert accepted.listing.brand == changes.get("brand", "Toyota") and accepted.offset == 7


@pytest.mark.parametrize("raw, expected", [
    (b'{"a": NaN}', "NaN is not valid JSON (numbers must be finite)"),
    (b'{"a": [1, -Infinity]}', "-Infinity is not valid JSON (numbers must be finite)"),
    (b'{"a": "NaN and Infinity are fine in strings"}', None),
    (b'{"a": 1e400}', None),  # a number, just too large: the field's own check refuses it
    (b'{"a": ', None),  # malformed otherwise: the caller's parser words it
])
def test_non_finite_literals_are_found_only_outside_strings(raw, expected):
    assert non_finite_literal(raw) == expected
    assert may_hold_non_finite_literal(raw) == (b"NaN" in raw or b"Infinity" in raw)
