"""A champion promoted while `bentoml serve` runs reaches it without a restart: requests never
fail during the switch, and the version in the answers changes once (every worker switches at
the same moment). The models are the real trainer's, the switch is `autovalue champion set`."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
import pytest

from autovalue.champion_pointer import read_champion_record
from deploy.processes import ServerProcess, serve_command
from autovalue.settings import Settings
from tests.conftest import free_port
from tests.service_support import REPO, build_market, service_env, train_champion

pytestmark = pytest.mark.slow

LISTING = {"brand": "Toyota", "model": "Avanza", "year": 2020, "mileage_km": 60_000, "fuel": "petrol",
           "transmission": "manual", "body_type": "mpv", "region": "Bali", "seller_type": "dealer",
           "asking_price": 150_000_000}


def champion_command(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autovalue_cli.main", "champion", *args], cwd=REPO,
                          env=service_env(settings), capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    """v1 and v2, both exported; v1 the champion."""
    from training.dataset import build_dataset
    from training.pipeline import train

    settings = Settings(home=tmp_path_factory.mktemp("rollout"))
    build_market(settings, listings=8000)
    train_champion(settings)
    train(settings, build_dataset(settings), seed=7, progress=False)
    made = champion_command(settings, "set", "v1")
    assert made.returncode == 0, made.stderr
    return settings


def test_the_champion_command_names_what_is_wrong_in_one_line(two_models):
    shown = champion_command(two_models, "show")
    assert shown.returncode == 0 and shown.stdout.startswith("champion v1 (since ") and "exported: v1, v2" in shown.stdout
    for version, problem in (("v9", "v9 is not a registered version"), ("latest", "'latest' is not a model version")):
        refused = champion_command(two_models, "set", version)
        assert refused.returncode == 2 and problem in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


def test_a_promotion_reaches_the_running_service_without_a_failed_request(two_models):
    settings = two_models
    port = free_port()
    env = service_env(settings, AUTOVALUE_SERVICE_CHAMPION_POLL_S="0.2", AUTOVALUE_SERVICE_CHAMPION_SETTLE_S="5",
                      AUTOVALUE_SERVICE_WORKERS="2")
    replaced_before = read_champion_record(settings.models_dir).get("previous")
    server = ServerProcess(serve_command(port), env, port, settings.home / "serve.log").start(timeout=120)
    answers: list[tuple[int, str]] = []
    shadows: list[tuple[str, str | None, float, float | None]] = []  # version, shadow version, prices
    stop = threading.Event()

    def valuate_one_after_another() -> None:
        while not stop.is_set():
            # A new connection each time: the kernel spreads them over both workers.
            r = httpx.post(server.url + "/valuate", timeout=30,
                           json={"listing": {**LISTING, "listing_id": f"r-{len(answers)}"}})
            answers.append((r.status_code, r.json()["model_version"] if r.status_code == 200 else r.text))
            if r.status_code == 200:
                v = r.json()
                shadows.append((v["model_version"], v["shadow_model_version"], v["predicted_price"], v["shadow_price"]))

    def wait_until(condition, what: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)

    caller = threading.Thread(target=valuate_one_after_another)
    try:
        caller.start()
        wait_until(lambda: len(answers) >= 50, "50 answers from v1")
        promoted = champion_command(settings, "set", "v2")
        assert promoted.returncode == 0 and "champion: v1 -> v2" in promoted.stdout, promoted.stderr
        wait_until(lambda: len(answers) > 100 and {v for _, v in answers[-100:]} == {"v2"}, "100 answers from v2")
        # Both workers said so (each its own line), and the page shows the new version.
        wait_until(lambda: server.log_text().count("now serving champion v2 (was v1)") == 2, "both workers' switch")
        assert "model v2" in httpx.get(server.url + "/").text
    finally:
        stop.set()
        caller.join(timeout=60)
        server.stop()
    assert [a for a in answers if a[0] != 200] == []
    versions = [v for _, v in answers]
    assert versions[0] == "v1" and versions[-1] == "v2"
    assert sum(a != b for a, b in zip(versions, versions[1:])) == 1, "the version went back and forth"
    # From the promotion on, the replaced champion is scored in shadow: v1's own price for the car.
    v1_price = {price for version, _, price, _ in shadows if version == "v1"}
    # Before it, v1 carries the champion its own record says it replaced (the fixture's `set v1`).
    assert {shadow for version, shadow, _, _ in shadows if version == "v1"} == {replaced_before}
    assert len(v1_price) == 1  # the same car each time
    v1_price = v1_price.pop()
    assert {(shadow, shadow_price) for version, shadow, _, shadow_price in shadows if version == "v2"} == \
        {("v1", v1_price)}
    # A service started after the promotion scores the replaced champion too (the champion's record).
    restarted = ServerProcess(serve_command(port), env, port, settings.home / "restart.log").start(timeout=120)
    try:
        v = httpx.post(restarted.url + "/valuate", json={"listing": {**LISTING, "listing_id": "after"}}, timeout=30).json()
    finally:
        restarted.stop()
    assert (v["model_version"], v["shadow_model_version"], v["shadow_price"]) == ("v2", "v1", v1_price)
