"""A market of one's own (issue 16): a CSV with attributes the project has never seen, declared in
a mapping and nowhere else, goes through import, features, the real trainer, the real service
and the real scorer. The home also holds the simulated market: its statistics must answer for
nothing of this market's, and this market's currency and attributes must reach every part."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
import numpy as np
import pandas as pd
import pytest

from deploy.processes import ServerProcess, serve_command
from autovalue.settings import Settings, get_settings
from tests.conftest import free_port
from tests.service_support import build_market, service_env

pytestmark = pytest.mark.slow

SOURCE = "acme_motors"
# The two new attributes are one line each, and nothing else in the project knows them.
MAPPING = f"""
name: {SOURCE}
market: Testland
currency: EUR
columns:
  listed_at: {{from: posted, parse: date, format: "%Y-%m-%d"}}
  brand: {{from: make}}
  model: {{from: model}}
  year: {{from: year, parse: int}}
  mileage_km: {{from: km, parse: number}}
  body_type: {{from: body, map: {{SUV: suv, Sedan: sedan, Hatch: hatchback}}}}
  asking_price: {{from: price, parse: number}}
attributes:
  battery_kwh: {{from: battery, kind: number, units: {{kWh: 1}}}}
  trim: {{from: trim, kind: category}}
"""
MODELS = [("Toyota", "Corolla", "Sedan", 24_000), ("Toyota", "Rav4", "SUV", 32_000), ("Ford", "Focus", "Hatch", 20_000),
          ("Ford", "Kuga", "SUV", 28_000), ("Volvo", "Xc40", "SUV", 38_000), ("Volvo", "S60", "Sedan", 35_000)]
TRIM_PREMIUM = {"base": 1.0, "comfort": 1.08, "sport": 1.15}


def write_market_csv(path, rows: int = 2_400, seed: int = 3) -> None:
    """Dated listings of the last 70 days: price from model, age, mileage, trim and battery size
    (a quarter of the cars have no battery and a tenth no trim given)."""
    rng = np.random.default_rng(seed)
    today = datetime.now(timezone.utc).date()
    pick = rng.integers(0, len(MODELS), rows)
    year = rng.integers(today.year - 9, today.year + 1, rows)
    km = (today.year - year + 0.5) * rng.uniform(8_000, 20_000, rows)
    battery = np.where(rng.random(rows) < 0.25, np.nan, rng.choice([0, 10, 40, 80], rows))
    trim = rng.choice(list(TRIM_PREMIUM), rows)
    price = (np.array([MODELS[i][3] for i in pick]) * 0.88 ** (today.year - year) * np.exp(-km / 400_000)
             * np.array([TRIM_PREMIUM[t] for t in trim]) * (1 + np.nan_to_num(battery) / 100)
             * rng.lognormal(0, 0.05, rows))
    pd.DataFrame({
        "posted": [str(today - timedelta(days=int(d))) for d in rng.integers(1, 70, rows)],
        "make": [MODELS[i][0] for i in pick], "model": [MODELS[i][1] for i in pick],
        "body": [MODELS[i][2] for i in pick], "year": year, "km": km.round(),
        "battery": [f"{b:.0f} kWh" if b == b else "" for b in battery],
        "trim": np.where(rng.random(rows) < 0.1, "", trim), "price": price.round(),
    }).to_csv(path, index=False)


@pytest.fixture(scope="module")
def own_market(tmp_path_factory):
    from feature_repo.pipeline import build_features
    from market.importer import import_csv
    from market.io import read_source
    from training.dataset import build_dataset
    from training.pipeline import train

    home = tmp_path_factory.mktemp("own-market")
    settings = Settings(home=home, market_source=SOURCE)
    build_market(settings, listings=3_000)  # the simulated market's statistics, in the same stores
    write_market_csv(home / "acme.csv")
    (home / "acme.yaml").write_text(MAPPING)
    import_csv(home / "acme.csv", str(home / "acme.yaml"), settings.raw_dir)
    build_features(settings, read_source(settings.raw_dir, SOURCE), progress=False, source=SOURCE)
    result = train(settings, build_dataset(settings, SOURCE), progress=False)
    port = free_port()
    server = ServerProcess(serve_command(port), service_env(settings, AUTOVALUE_MARKET_SOURCE=SOURCE), port,
                           home / "serve.log").start()
    client = httpx.Client(base_url=server.url, timeout=60)
    yield settings.model_copy(update={"service_url": server.url}), result.bundle, client
    client.close()
    server.stop()
    get_settings.cache_clear()


def listing(**fields) -> dict:
    base = {"listing_id": "acme-1", "brand": "Toyota", "model": "Rav4", "year": datetime.now().year - 3,
            "mileage_km": 45_000.0, "body_type": "suv", "asking_price": 25_000.0}
    return {**base, **fields}


def test_declared_attributes_are_features_inputs_and_api_fields(own_market):
    settings, bundle, client = own_market
    assert {"car_battery_kwh", "car_trim"} <= set(bundle.features)
    assert bundle.metadata["feature_service"].startswith(f"{SOURCE}_valuation_v1_")
    spec = client.get("/docs.json").json()
    fields = set().union(*(schema.get("properties", {}) for schema in spec["components"]["schemas"].values()))
    assert {"battery_kwh", "trim"} <= fields
    inputs = client.post("/model_inputs", json={"listings": [listing(battery_kwh=80, trim="sport"), listing()]}).json()
    assert (inputs[0]["car_battery_kwh"], inputs[0]["car_trim"]) == (80.0, "sport")
    assert (inputs[1]["car_battery_kwh"], inputs[1]["car_trim"]) == (None, None)  # missing is a value


def test_the_model_prices_what_the_attribute_says(own_market):
    _, _, client = own_market
    small, large = (client.post("/valuate", json={"listing": listing(battery_kwh=kwh, trim="base")}).json()
                    for kwh in (0, 80))
    assert small["currency"] == large["currency"] == "EUR"
    # The simulated market adds 80% for an 80 kWh battery: the model must see most of it.
    assert large["predicted_price"] / small["predicted_price"] > 1.4, (small, large)
    missing = client.post("/valuate", json={"listing": listing()})
    assert missing.status_code == 200, missing.text


def test_a_bad_attribute_is_a_422_naming_it(own_market):
    _, _, client = own_market
    response = client.post("/valuate", json={"listing": listing(battery_kwh="eighty")})
    assert response.status_code == 422 and "listing.battery_kwh" in response.text, response.text
    response = client.post("/valuate", json={"listing": listing(trim="s\u202eport")})
    assert response.status_code == 422 and "listing.trim" in response.text, response.text


def test_the_market_answers_from_its_own_statistics_in_its_currency(own_market):
    """Avanza is a Toyota of the simulated market only, Daihatsu a brand of it only: here they
    fall back to this market's Toyotas and SUVs, never to the simulated market's rows."""
    _, _, client = own_market

    def fallback(**fields) -> str:
        answer = client.post("/valuate", json={"listing": listing(**fields)}).json()
        assert answer["currency"] == "EUR" and answer["feature_service"].startswith(SOURCE), answer
        return answer["fallback"]

    assert fallback() == "model"
    assert fallback(model="Avanza") == "brand"
    assert fallback(brand="Daihatsu", model="Terios") == "segment"
    # A euro price the Indonesian market would refuse as implausibly low is a plain price here.
    assert client.post("/valuate", json={"listing": listing(asking_price=9_000.0)}).status_code == 200


def test_the_scorer_validates_and_stores_the_attributes(own_market, kafka_bootstrap):
    from sqlalchemy import select

    from autovalue.tables import connect, valuations
    from tests.streaming import isolated, score_until_stored, table_ids

    settings = isolated(own_market[0].model_copy(update={"kafka_bootstrap": kafka_bootstrap}))
    sent = [listing(listing_id="s1", battery_kwh=40, trim="comfort"), listing(listing_id="s2"),
            listing(listing_id="s3", battery_kwh="lots"), listing(listing_id="s4", asking_price=9_000.0)]
    score_until_stored(settings, sent)
    valued, dead = table_ids(settings)
    assert sorted(valued) == ["s1", "s2", "s4"] and [d["listing_id"] for d in dead] == ["s3"]
    assert "battery_kwh" in dead[0]["reason"]
    engine = connect(settings.database)
    with engine.connect() as connection:
        stored = {row.listing_id: row.attributes for row in connection.execute(select(valuations))}
    engine.dispose()
    assert json.loads(stored["s1"]) == {"battery_kwh": 40.0, "trim": "comfort"}
    assert json.loads(stored["s2"]) == {"battery_kwh": None, "trim": None}
