"""The dashboard with the real valuation service (`autovalue serve` on a champion trained on the
same small market) and the real broker: once through AppTest, once in a real headless Chromium
that looks at what a person sees at 1280 and 1440 px, then stops the service and waits for the
Live page to say so. Screenshots go to test-output/app/ (`python docs/screenshots.py` turns them
into the README's)."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from deploy.processes import stop_process_group
from autovalue.settings import Settings
from tests.app_support import (APP_DIR, REPO, build_market, dashboard_env, fill_outcomes, metrics, new_stack, run,
                               set_env, texts, wait_for)
from tests.conftest import free_port
from tests.streaming import isolated

pytestmark = pytest.mark.slow

OUTPUT = REPO / "test-output" / "app"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CLI = [sys.executable, "-m", "autovalue_cli.main"]
RATINGS = {"great deal", "good deal", "fair price", "high price", "overpriced"}
# Any metric whose text is wider than its box is cut off (an ellipsis) for a person.
CUT_OFF = """() => [...document.querySelectorAll('[data-testid="stMetricValue"]')].filter(el =>
    [el, ...el.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1)).map(el => el.innerText)"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    return new_stack(tmp_path_factory.mktemp("app-browser"))


@pytest.fixture(scope="module")
def champion(tmp_path_factory) -> dict[str, str]:
    """A trained champion on the stack's market (same seed and size: the same cars), in a home
    of its own (the stack's MLflow holds the Model page's two recorded models)."""
    settings = Settings(home=tmp_path_factory.mktemp("service"))
    build_market(settings)
    env = dashboard_env(settings, BENTOML_HOME=str(settings.bentoml_store))
    subprocess.run([*CLI, "train", "--quiet"], env=env, cwd=REPO, check=True, timeout=900)
    return env


@pytest.fixture
def service(champion):
    port = free_port()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    log = open(OUTPUT / "serve.log", "w")
    process = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=champion, cwd=REPO, start_new_session=True,
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(f"http://127.0.0.1:{port}/readyz", process, 180)
        yield f"http://127.0.0.1:{port}", process
    finally:
        stop_process_group(process)
        log.close()


def test_value_form_shows_a_valuation_from_the_real_service(stack, service, monkeypatch):
    set_env(dashboard_env(stack[0], AUTOVALUE_SERVICE_URL=service[0]), monkeypatch)
    at = run("value")
    at.selectbox(key="brand").select("Toyota").run()
    at.selectbox(key="model").select("Avanza").run()
    at.number_input[1].set_value(150.0)  # asking price, Rp juta
    at.button[0].click().run()
    assert not at.exception and not at.error, texts(at, "error")
    shown = metrics(at)
    assert shown["Estimated price"].startswith("Rp ") and shown["Estimated price"].endswith(" jt")
    assert shown["Deal rating"] in RATINGS
    # A car the model knows, with fresh market statistics: high confidence, said plainly.
    assert any(caption.value.startswith("Confidence high") for caption in at.caption), texts(at, "caption")


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed here when missing (never a downloaded browser)."""
    if not CHROMIUM.exists():
        installed = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
                                   capture_output=True, text=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if installed.returncode != 0 or not CHROMIUM.exists():
            pytest.skip(f"chromium is not installed and `apt-get install chromium` failed: {installed.stderr[-300:]}")
    return CHROMIUM


@contextmanager
def dashboard(env: dict[str, str]):
    """`streamlit run app/main.py` for real, as `autovalue dashboard` runs it, on a free port."""
    port = free_port()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with open(OUTPUT / "streamlit.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(APP_DIR / "main.py"), "--server.headless", "true",
             "--server.port", str(port), "--browser.gatherUsageStats", "false", "--client.showErrorDetails", "type"],
            env={**os.environ, **env}, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(f"http://127.0.0.1:{port}/_stcore/health", process, 60)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_process_group(process)


def shoot(page, name: str) -> None:
    """The whole page (Streamlit scrolls inside its main block: the window grows to fit it)."""
    page.wait_for_timeout(1500)  # charts draw after the data arrives
    for bad in ("Traceback", "Page not found"):
        assert page.get_by_text(bad, exact=False).count() == 0, f"{name}: {bad!r} on screen"
    assert page.locator("[data-testid='stException']").count() == 0, f"{name}: an exception box on screen"
    assert page.evaluate(CUT_OFF) == [], f"{name}: figures cut off"
    width = page.viewport_size["width"]
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": width, "height": max(900, height)})
    page.wait_for_timeout(1000)
    page.screenshot(path=OUTPUT / f"{name}.png")
    page.set_viewport_size({"width": width, "height": 900})


def test_browser_shows_what_a_person_needs_on_every_page(chromium, stack, service, kafka_bootstrap):
    from playwright.sync_api import expect, sync_playwright

    settings = stack[0]
    fill_outcomes(settings.database)  # for the Live accuracy page
    topics = isolated(settings.model_copy(update={"kafka_bootstrap": kafka_bootstrap}), database_url=settings.database)
    env = dashboard_env(settings, AUTOVALUE_SERVICE_URL=service[0], AUTOVALUE_KAFKA_BOOTSTRAP=kafka_bootstrap,
                        AUTOVALUE_TOPIC_LISTINGS=topics.topic_listings, AUTOVALUE_CONSUMER_GROUP=topics.consumer_group)
    profile = OUTPUT / "chromium-profile"
    shutil.rmtree(profile, ignore_errors=True)
    with dashboard(env) as url, sync_playwright() as playwright:
        # A fresh --user-data-dir: Playwright passes it as the persistent context's profile.
        browser = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(chromium), args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 900},
            accept_downloads=True)
        try:
            page = browser.new_page()
            page.goto(url)  # Live is the default page, at /
            expect(page.get_by_text("Latest valuations")).to_be_visible(timeout=60_000)
            expect(page.locator("[data-testid='stMetric']", has_text="Model serving")).to_contain_text("v1")
            for figure in ("Throughput since start", "Throughput, last minute"):
                expect(page.locator("[data-testid='stMetric']", has_text=figure)).to_contain_text("/s")
            for part in ("Valuation service down", "Kafka broker down", "Database down"):  # all up: no banner
                assert page.get_by_text(part).count() == 0, part
            assert page.get_by_role("button", name="Deploy").count() == 0  # app/.streamlit/config.toml
            shoot(page, "live")

            page.goto(f"{url}/value")
            page.get_by_label("Mileage (km)", exact=True).fill("85,000")
            page.get_by_label("Asking price (Rp jt, optional)", exact=True).fill("150")
            page.get_by_role("button", name="Value this car").click()
            expect(page.get_by_text("80% interval", exact=True)).to_be_visible(timeout=60_000)
            expect(page.get_by_text("Comparable recent listings")).to_be_visible(timeout=30_000)
            for width in (1440, 1280):
                page.set_viewport_size({"width": width, "height": 900})
                page.wait_for_timeout(1000)
                assert page.evaluate(CUT_OFF) == [], f"cut off at {width} px"
            shoot(page, "value")

            page.goto(f"{url}/listings")
            table = page.locator("[data-testid='stDataFrame']").first
            expect(table).to_be_visible(timeout=30_000)
            with page.expect_download() as download:
                page.get_by_role("button", name=f"Export these {len(stack[2])} valuations (CSV)").click()
            with open(download.value.path(), newline="") as exported:
                rows = list(csv.DictReader(exported))
            assert len(rows) == len(stack[2]) and {"listing_id", "predicted_price", "deal_rating"} <= set(rows[0])
            box = table.bounding_box()  # the first row's selection box, just under the header
            page.mouse.click(box["x"] + 18, box["y"] + 35 + 35 / 2)
            expect(page.get_by_text("What drives this price")).to_be_visible(timeout=30_000)
            shoot(page, "listings")

            for name, marker in [("accuracy", "Bias per car model"), ("model", "Compared with the previous champion"),
                                 ("drift", "Incoming listings vs training data")]:
                page.goto(f"{url}/{name}")
                expect(page.get_by_text(marker)).to_be_visible(timeout=30_000)
                shoot(page, name)

            # The service's own pages load nothing from another host (BentoML's loaded a tag manager).
            hosts = set()
            page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
            for path, marker in [("/", "AutoValue valuation service"), ("/docs", "/valuate_batch")]:
                page.goto(service[0] + path)
                expect(page.get_by_text(marker).first).to_be_visible(timeout=30_000)
            page.wait_for_timeout(1000)
            assert hosts == {service[0].removeprefix("http://")}, hosts

            stop_process_group(service[1])  # the service goes down: Live says so within a refresh
            page.goto(url)
            expect(page.get_by_text("Valuation service down")).to_be_visible(timeout=30_000)
            expect(page.locator("[data-testid='stMetric']", has_text="Model serving")).to_contain_text("none")
            shoot(page, "live-service-down")
        finally:
            browser.close()
            shutil.rmtree(profile, ignore_errors=True)
    for name in ["live", "value", "listings", "accuracy", "model", "drift", "live-service-down"]:
        assert (OUTPUT / f"{name}.png").stat().st_size > 20_000
