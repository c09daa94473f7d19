"""The replay's pure parts: which listings, in which order, as which messages, due when."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from autovalue.outcome import Outcome
from autovalue.schema import Listing
from autovalue.settings import get_settings
from consumers.replay import CompressedClock, ReplayRefused, listing_message, open_source, outcome_message, plan
from market.io import write_source


def market(**extra) -> pd.DataFrame:
    frame = pd.DataFrame({
        "listing_id": ["a", "b", "c", "d", "e"],
        "listed_at": pd.to_datetime(["2019-03-02", "2019-03-01", None, "2019-03-01", "2019-02-01"], utc=True),
        "brand": "Ford", "model": "F-150", "year": np.array([2012, 2015, 2010, 2011, 2009], dtype="int32"),
        "mileage_km": [90_000.0, 40_000.0, 1.0, np.nan, 150_000.0],
        "fuel": "petrol", "transmission": "automatic", "body_type": "pickup", "region": "unknown",
        "seller_type": "other", "asking_price": [15_000.0, np.nan, 9_000.0, 12_000.0, 7_000.0],
        "sold_at": pd.to_datetime(["2019-03-12", None, None, "2019-02-20", None], utc=True),
        "sold_price": [14_000.0, np.nan, np.nan, 11_000.0, np.nan],
    })
    return frame.assign(**extra)


def test_listings_go_in_listing_date_order_and_the_file_order_within_a_date():
    chosen = plan(market())
    assert list(chosen.listings["listing_id"]) == ["e", "b", "d", "a"]
    assert chosen.skipped == {"no listing date": 1}


def test_from_and_limit_choose_the_stretch():
    chosen = plan(market(), since=datetime(2019, 3, 1, tzinfo=timezone.utc), limit=2)
    assert list(chosen.listings["listing_id"]) == ["b", "d"]
    assert chosen.skipped == {"no listing date": 1, "listed before 2019-03-01": 1}


def test_a_message_has_every_column_but_the_outcome_and_no_missing_value():
    rows = plan(market(engine_cc=[2000.0, np.nan, 1500.0, None, 1800.0], trim=["XLT", None, "a", "b", "c"])
                ).listings.to_dict("records")
    by_id = {row["listing_id"]: listing_message(row) for row in rows}
    assert by_id["a"] == {"listing_id": "a", "listed_at": "2019-03-02T00:00:00+00:00", "brand": "Ford",
                          "model": "F-150", "year": 2012, "mileage_km": 90_000.0, "fuel": "petrol",
                          "transmission": "automatic", "body_type": "pickup", "region": "unknown",
                          "seller_type": "other", "asking_price": 15_000.0, "engine_cc": 2000.0, "trim": "XLT"}
    assert "asking_price" not in by_id["b"] and "engine_cc" not in by_id["b"] and "trim" not in by_id["b"]
    assert "mileage_km" not in by_id["d"]
    for message in by_id.values():
        text = json.dumps(message, allow_nan=False)  # raises on NaN or Infinity
        assert "sold" not in text and type(message["year"]) is int


@pytest.fixture
def dollars(monkeypatch):
    """Listings validated as a US market's (asking prices in dollars)."""
    monkeypatch.setenv("AUTOVALUE_MARKET_CURRENCY", "USD")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_a_replayed_message_is_a_valid_listing_with_its_own_dates(dollars):
    row = plan(market()).listings.to_dict("records")[-1]
    listing = Listing.model_validate_json(json.dumps(listing_message(row)))
    assert listing.listed_at == datetime(2019, 3, 2, tzinfo=timezone.utc) and listing.year == 2012


def test_integral_floats_become_integers_for_integer_fields():
    row = {"listing_id": "x", "year": np.float64(2015.0), "mileage_km": np.float64(1.5), "asking_price": math.inf}
    assert listing_message(row) == {"listing_id": "x", "year": 2015, "mileage_km": 1.5}


def test_only_a_sale_in_the_file_becomes_an_outcome():
    rows = {row["listing_id"]: row for row in plan(market()).listings.to_dict("records")}
    known = datetime(2026, 1, 1, tzinfo=timezone.utc)
    sold = Outcome.model_validate(outcome_message(rows["a"], known))
    assert (sold.outcome.value, sold.sold_price, sold.days_on_market, sold.outcome_at) == ("sold", 14_000.0, 10.0, known)
    assert outcome_message(rows["b"], known) is None
    assert outcome_message(rows["d"], known)["days_on_market"] == 0.0  # sold before listed: no negative wait


def test_the_clock_plays_speedup_simulated_seconds_per_real_second():
    clock = CompressedClock(pd.Timestamp("2019-03-01", tz="UTC"), speedup=86_400, started=100.0)
    assert clock.real_time(pd.Timestamp("2019-03-01", tz="UTC")) == 100.0
    assert clock.real_time(pd.Timestamp("2019-03-11", tz="UTC")) == 110.0
    assert clock.real_time(pd.Timestamp("2019-03-01T12:00", tz="UTC")) == 100.5


def test_an_undated_source_is_refused_in_one_line(tmp_path):
    write_source(tmp_path, "cars", [market(listed_at=pd.NaT, sold_at=pd.NaT)], {"has_listing_dates": False})
    for ref in ("cars", str(tmp_path / "cars.parquet")):
        with pytest.raises(ReplayRefused, match="^cars has no listing dates: nothing to replay$"):
            open_source(tmp_path, ref)


def test_a_missing_or_unreadable_source_is_named(tmp_path):
    with pytest.raises(ReplayRefused, match="no market source 'nosuch'"):
        open_source(tmp_path, "nosuch")
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(ReplayRefused, match="junk.parquet: not a readable market table"):
        open_source(tmp_path, str(tmp_path / "junk.parquet"))
    write_source(tmp_path, "cars", [market()], {})
    (tmp_path / "cars.meta.json").write_text("{not json")
    with pytest.raises(ReplayRefused, match="cars.meta.json: not readable metadata"):
        open_source(tmp_path, "cars")
