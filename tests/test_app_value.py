"""Value a car and Listings through Streamlit's AppTest against real parts (a small market with
its Feast store, a SQLite valuations database, MLflow); the service is down here, or its answer
is given as the page keeps it. The real service: test_app_browser.py."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app import display
from autovalue.valuation import Valuation, ValueDriver
from tests.app_support import APP_DIR, dashboard_env, metrics, new_stack, run, set_env, texts


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    return new_stack(tmp_path_factory.mktemp("app-value"))


@pytest.fixture
def env(stack, monkeypatch):
    settings = stack[0]
    set_env(dashboard_env(settings), monkeypatch)
    return settings


def test_value_page_has_dependent_choices(env, stack):
    _, market, _ = stack
    at = run("value")
    brand = at.selectbox(key="brand")
    assert set(brand.options) == set(market["brand"])
    brand.select("Honda").run()
    assert set(at.selectbox(key="model").options) == set(market.loc[market["brand"] == "Honda", "model"])
    assert at.button[0].label == "Value this car"


def test_value_form_says_plainly_when_the_service_is_down(env):
    at = run("value")
    at.text_input[0].set_value("85,000")  # mileage, with a thousands separator
    at.number_input[1].set_value(150.0)  # asking price, Rp juta
    at.button[0].click().run()
    assert not at.exception
    assert "Valuation service unavailable" in texts(at, "error")
    assert not at.metric  # no stale valuation on screen
    at.text_input[0].set_value("85.5")
    at.button[0].click().run()
    assert "write the kilometres as a whole number" in texts(at, "error")


def test_transmission_and_fuel_default_to_what_most_cars_of_the_model_have(env, stack):
    _, market, _ = stack
    at = run("value")
    for (brand, model), cars in market.groupby(["brand", "model"]):
        if cars["transmission"].nunique() == 1 and cars["transmission"].iat[0] == "automatic":
            break
    else:
        pytest.fail("the fixture market has no automatic-only model")
    at.selectbox(key="brand").select(brand).run()
    at.selectbox(key="model").select(model).run()
    shown = {box.label: box.value for box in at.selectbox}
    assert shown["Transmission"] == "automatic" and shown["Fuel"] == cars["fuel"].mode().iat[0]


def a_valuation(car) -> tuple[dict, Valuation]:
    """A listing like a stored one and the valuation the service would give it."""
    listing = {"listing_id": "dashboard-test", "brand": car["brand"], "model": car["model"], "year": int(car["year"]),
               "mileage_km": float(car["mileage"]), "fuel": car["fuel"], "transmission": car["transmission"],
               "body_type": car["body_type"], "region": car["region"], "seller_type": "dealer", "asking_price": 150e6}
    valuation = Valuation(
        listing_id="dashboard-test", predicted_price=180_900_000.0, price_low=160_000_000.0, price_high=231_200_000.0,
        currency="IDR", asking_price=150e6, deal_rating="great", fallback="model", model_version="v2",
        feature_service="valuation_v1", market_data_age_s=3600.0,
        value_drivers=[ValueDriver(feature="age", label="age -Rp 20.0 jt", amount=-20e6),
                       ValueDriver(feature="market", label="market +Rp 12.0 jt", amount=12e6)])
    return listing, valuation


def test_value_page_shows_the_market_of_the_model_and_comparables_of_the_same_transmission_and_fuel(env, stack):
    _, _, stored = stack
    car = stored.iloc[0]
    at = AppTest.from_file(str(APP_DIR / "screens" / "value.py"), default_timeout=60)
    at.session_state["valuation"] = a_valuation(car)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = metrics(at)
    assert shown["Estimated price"] == "Rp 180.9 jt" and shown["80% interval"] == "Rp 160.0 – 231.2 jt"
    assert shown["Deal rating"] == "great deal"
    # The waterfall, then price over time, by model year and by mileage, with this car marked.
    charts = at.get("vega_lite_chart")
    assert len(charts) == 4
    assert all('"diamond"' in chart.proto.spec for chart in charts[1:])  # the car's marker
    captions = texts(at, "caption")
    assert "**base value**" in captions and "**market**" in captions  # the waterfall's steps in words
    comparable = at.dataframe[0].value
    assert len(comparable) >= 1
    assert set(comparable["Transmission"]) == {car["transmission"]} and set(comparable["Fuel"]) == {car["fuel"]}
    assert set(comparable["Deal rating"]) <= {"great deal", "good deal", "fair price", "high price", "overpriced"}


def test_listings_filter_and_show_the_selected_listings_valuation(env, stack):
    _, _, stored = stack
    at = run("listings")
    assert f"**{len(stored):,} listings**" in texts(at, "markdown") and at.get("download_button")
    at.multiselect(key="brands").select("Toyota").run()
    at.multiselect(key="ratings").select("great deal").run()
    shown = at.dataframe[0].value
    expected = stored[(stored["brand"] == "Toyota") & (stored["deal_rating"] == "great")]
    assert len(shown) == len(expected) > 0
    assert shown["Car"].str.startswith("Toyota ").all() and set(shown["Deal rating"]) == {"great deal"}
    # A click on a row (its selection state) shows that listing's stored valuation.
    at.session_state["listings_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    newest = expected.sort_values("created_at").iloc[-1]
    assert metrics(at)["Estimated price"] == display.money(newest["predicted_price"], "IDR")
    assert "What drives this price comes from the valuation service" in texts(at, "info")  # it is down here
