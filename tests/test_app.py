"""The dashboard against real parts: every page through Streamlit's AppTest on a SQLite database
filled through autovalue.tables, a real Feast store and a real MLflow store; plain messages
when the service, the broker or the database is down; one run in a real headless Chromium."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from app import display
from autovalue.settings import Settings
from tests.app_support import APP_DIR, REPO, build_market, dashboard_env, fill_database, record_models, set_env
from tests.conftest import free_port

PAGES = ["live", "accuracy", "value", "model", "drift"]
OUTPUT = REPO / "test-output" / "app"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def nothing_at() -> str:
    return f"127.0.0.1:{free_port()}"  # a port nobody listens on: the part is "down"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Home with a small market and its Feast store, 400 stored valuations and 7 dead letters,
    and two models in MLflow (champion v2). Service and broker are down unless a test starts them."""
    settings = Settings(home=tmp_path_factory.mktemp("app"), service_url=f"http://{nothing_at()}",
                        kafka_bootstrap=nothing_at())
    market = build_market(settings)
    stored = fill_database(settings.database, market)
    record_models(settings)
    return settings, market, stored


@pytest.fixture
def env(stack, monkeypatch):
    settings = stack[0]
    set_env(dashboard_env(settings), monkeypatch)
    return settings


def run(page: str) -> AppTest:
    at = AppTest.from_file(str(APP_DIR / "screens" / f"{page}.py"), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest, kind: str) -> str:
    return "\n".join(str(element.value) for element in getattr(at, kind))


def metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def test_live_page(env, stack):
    _, _, stored = stack
    at = run("live")
    # Service and broker are down here: one banner says so, and no model is claimed to serve.
    banner = texts(at, "error")
    assert "Valuation service down" in banner and "Kafka broker down" in banner and "Database down" not in banner
    shown = metrics(at)
    assert shown["Model serving"] == "none: service down"
    # Throughput over the time the stored valuations actually span, not a fixed 10 minutes.
    span = (stored["created_at"].max() - stored["created_at"].min()).total_seconds()
    assert shown["Throughput since start"] == f"{len(stored) / span:.1f} /s"
    assert shown["Throughput, last minute"].endswith(" /s") and shown["Dead letters"] == "7"
    assert f"{len(stored):,} valuations in the last 10 minutes · {len(stored):,} since the stream started" in \
        texts(at, "caption")
    latest = at.dataframe[0].value
    assert list(latest.columns) == ["Stored", "Car", "Mileage", "Asking price", "Estimate", "80% interval",
                                    "Deal rating", "Model"]
    assert len(latest) == 20 and set(latest["Deal rating"]) <= {"great deal", "good deal", "fair price",
                                                                "high price", "overpriced"}
    assert latest["Estimate"].str.match(r"^Rp [\d,]+\.\d jt$").all()
    assert latest["80% interval"].str.match(r"^Rp [\d,]+\.\d – [\d,]+\.\d jt$").all()
    assert "Rp" in texts(at, "markdown") and "below" in texts(at, "markdown")  # the deal feed
    assert "Unknown while the broker is down" in texts(at, "info")  # consumer lag
    reasons = at.table[0].value
    assert set(reasons["Reason"]) == {"year", "mileage_km", "not JSON"} and reasons["Count"].sum() == 7
    assert "model year 2031 is after the listing date 2026-01-01" in set(reasons["Latest example"])


def test_value_page_has_dependent_choices(env, stack):
    _, market, _ = stack
    at = run("value")
    brand, model = at.selectbox(key="brand"), at.selectbox(key="model")
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


def a_valuation(car) -> tuple[dict, "Valuation"]:
    """A listing like a stored one and the valuation the service would give it."""
    from autovalue.valuation import Valuation, ValueDriver

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


def test_model_page(env):
    at = run("model")
    shown = metrics(at)
    assert shown["Holdout MAPE"] == "9.40%" and shown["R²"] == "0.856"
    models = at.dataframe[0].value  # metrics down, models across, all in words
    assert list(models.columns) == ["metric", "XGBoost (served)", "linear regression"]  # the served one first
    assert models.set_index("metric").loc["MAPE (mean absolute % error)", "XGBoost (served)"] == "9.40%"
    compared = at.dataframe[1].value
    assert list(compared.columns) == ["metric", "v2", "v1", "change"]
    assert "mape" not in set(compared["metric"])
    assert compared.set_index("metric").loc["MAPE (mean absolute % error)", "change"] == "−2.70 points"
    captions = texts(at, "caption")
    assert "11.80%" in captions  # previous champion on this holdout
    assert "holdout MAPE 9.40% beats champion v1 (11.80%)" in captions
    runs = at.table[0].value
    assert len(runs) == 2 and set(runs["Promoted"]) == {"yes"} and set(runs["Rows"]) == {"2,500"}
    assert [image.captions for image in at.get("image")] == [["predicted vs actual"]]  # champion plot


def test_drift_page(env):
    at = run("drift")
    table = at.dataframe[0].value
    assert set(table["Feature"]) == {"year", "mileage", "asking_price", "brand", "fuel", "transmission",
                                     "body_type", "region", "seller_type"}
    # Incoming rows are a sample of the training market: no feature has drifted.
    assert (table["PSI"] < 0.1).all() and "No feature has moved" in texts(at, "success")
    ages = metrics(at)
    assert ages["Car models × levels without online features"] == "0"
    assert ages["Oldest market feature"].endswith(" h")  # daily rows, stamped at midnight
    models = market_models(env)
    assert ages["Car models pushed in the last hour"] == f"0 of {models}"  # no market feed runs here
    assert "stamped at midnight UTC" in texts(at, "caption")  # why the oldest is hours old
    chart = at.get("vega_lite_chart")[0]  # every car model, on a log scale so no level is invisible
    assert '"log"' in chart.proto.spec


def market_models(settings: Settings) -> int:
    from market.io import read_source

    return len(read_source(settings.raw_dir, settings.market_source).groupby(["brand", "model"]))


def test_drift_page_warns_when_incoming_listings_shift(env, stack, tmp_path, monkeypatch):
    _, market, _ = stack
    shifted = market[market["brand"] == "Toyota"]
    monkeypatch.setenv("AUTOVALUE_DATABASE_URL", f"sqlite:///{tmp_path / 'shifted.db'}")
    fill_database(f"sqlite:///{tmp_path / 'shifted.db'}", shifted, rows=300)
    at = run("drift")
    assert "Drift warning" in texts(at, "error") and "brand" in texts(at, "error")


def test_navigation_reaches_every_page(env):
    at = AppTest.from_file(str(APP_DIR / "main.py"), default_timeout=60).run()
    assert not at.exception and at.title[0].value == "Live valuations"
    for page, title in [("accuracy", "Live accuracy"), ("value", "Value a car"), ("listings", "Listings"),
                        ("model", "Model"), ("drift", "Drift and freshness")]:
        at.switch_page(f"screens/{page}.py").run()
        assert not at.exception and at.title[0].value == title


def test_every_page_says_plainly_when_the_database_is_down(env, monkeypatch):
    monkeypatch.setenv("AUTOVALUE_DATABASE_URL", f"postgresql+psycopg://autovalue@{nothing_at()}/autovalue")
    live = run("live")
    assert "Database down" in texts(live, "error") and "the database is unreachable" in texts(live, "error")
    assert "Consumer lag" in texts(live, "subheader")  # the rest of the page still works
    value = run("value")
    assert value.button[0].label == "Value this car"
    drift = run("drift")
    assert "the database is unreachable" in texts(drift, "warning")
    assert drift.metric  # feature ages still shown from the market's busiest models


def test_pages_on_a_fresh_install_say_what_is_missing(tmp_path, monkeypatch):
    settings = Settings(home=tmp_path, service_url=f"http://{nothing_at()}", kafka_bootstrap=nothing_at())
    set_env(dashboard_env(settings), monkeypatch)
    assert "No valuations database yet" in texts(run("live"), "info")
    assert run("value").selectbox(key="brand").options  # from the built-in catalog
    assert "No MLflow runs yet" in texts(run("model"), "info")
    drift = texts(run("drift"), "info")
    assert "No market data yet" in drift and "No valuations database yet" in drift


# ---- the real valuation service (bento/, merged from the service branch) -------------------------------

@pytest.mark.slow
def test_value_form_shows_a_valuation_from_the_real_service(tmp_path, monkeypatch):
    if not (REPO / "bento" / "service.py").exists():
        pytest.skip("bento/service.py is absent: the valuation service arrives with the service branch")
    port = free_port()
    settings = Settings(home=tmp_path, service_url=f"http://127.0.0.1:{port}", kafka_bootstrap=nothing_at())
    build_market(settings, listings=6000, days=120)
    env = dashboard_env(settings, BENTOML_HOME=str(settings.bentoml_store), OTEL_SDK_DISABLED="true")
    cli = [sys.executable, "-m", "autovalue_cli.main"]
    subprocess.run([*cli, "train", "--quiet"], env=env, cwd=REPO, check=True, timeout=600)
    service = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env, cwd=REPO, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"{settings.service_url}/readyz", service, 120)
        set_env(env, monkeypatch)
        at = run("value")
        at.selectbox(key="brand").select("Toyota").run()
        at.selectbox(key="model").select("Avanza").run()
        at.number_input[1].set_value(150.0)  # asking price, Rp juta
        at.button[0].click().run()
        assert not at.exception and not at.error, texts(at, "error")
        shown = metrics(at)
        assert shown["Estimated price"].startswith("Rp ") and shown["Estimated price"].endswith(" jt")
        assert shown["Deal rating"] in {"great deal", "good deal", "fair price", "high price", "overpriced"}
        # A car the model knows, with fresh market statistics: high confidence, said plainly.
        assert any(caption.value.startswith("Confidence high") for caption in at.caption), texts(at, "caption")
    finally:
        stop_group(service)


# ---- one real browser run -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed here when missing (never a downloaded browser)."""
    if not CHROMIUM.exists():
        installed = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
                                   capture_output=True, text=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if installed.returncode != 0 or not CHROMIUM.exists():
            pytest.skip(f"chromium is not installed and `apt-get install chromium` failed: {installed.stderr[-300:]}")
    return CHROMIUM


def wait_for(url: str, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args} exited with {process.returncode}"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready after {timeout_s} s")


def stop_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@pytest.fixture
def dashboard(stack):
    """`streamlit run app/main.py` for real, on a free port, against the test stack."""
    settings = stack[0]
    port = free_port()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    log = open(OUTPUT / "streamlit.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP_DIR / "main.py"), "--server.headless", "true",
         "--server.port", str(port), "--browser.gatherUsageStats", "false", "--client.showErrorDetails", "type"],
        env={**os.environ, **dashboard_env(settings)}, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/_stcore/health", process, 60)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(process)
        log.close()


def shoot(page, name: str) -> None:
    page.wait_for_timeout(1500)  # charts draw after the data arrives
    for bad in ("Traceback", "Page not found"):
        assert page.get_by_text(bad, exact=False).count() == 0, f"{name}: {bad!r} on screen"
    assert page.locator("[data-testid='stException']").count() == 0, f"{name}: an exception box on screen"
    page.screenshot(path=OUTPUT / f"{name}.png")


def test_browser_fills_the_form_and_screenshots_every_page(chromium, dashboard):
    from playwright.sync_api import expect, sync_playwright

    profile = OUTPUT / "chromium-profile"
    shutil.rmtree(profile, ignore_errors=True)
    with sync_playwright() as playwright:
        # A fresh --user-data-dir: Playwright passes it as the persistent context's profile.
        browser = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(chromium), args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 2000})
        try:
            page = browser.new_page()
            page.goto(dashboard)  # Live is the default page, at /
            expect(page.get_by_text("Latest valuations")).to_be_visible(timeout=30_000)
            expect(page.get_by_text("Deal feed")).to_be_visible()
            shoot(page, "live")

            page.goto(f"{dashboard}/value")
            page.get_by_label("Mileage (km)").fill("85000")
            page.get_by_label("Asking price (Rp jt, optional)").fill("150")
            page.get_by_role("button", name="Value this car").click()
            expect(page.get_by_text("Valuation service unavailable")).to_be_visible(timeout=20_000)
            shoot(page, "value")

            for name, marker in [("accuracy", "No outcomes in the last hour yet"),
                                 ("model", "Compared with the previous champion"),
                                 ("drift", "Incoming listings vs training data")]:
                page.goto(f"{dashboard}/{name}")
                expect(page.get_by_text(marker)).to_be_visible(timeout=30_000)
                shoot(page, name)
        finally:
            browser.close()
            shutil.rmtree(profile, ignore_errors=True)
    for name in PAGES:
        assert (OUTPUT / f"{name}.png").stat().st_size > 20_000
