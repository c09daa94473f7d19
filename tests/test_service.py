"""The valuation service, over HTTP: a real `autovalue serve` (bentoml serve) process against a
real Feast store (SQLite online store) of a small simulated market and a champion in a real
BentoML model store. One server for the module; it runs with an API key and a small batch limit.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from deploy.processes import ServerProcess, serve_command
from autovalue.schema import LISTING_FIELDS
from autovalue.settings import Settings
from autovalue.valuation import deal_rating
from tests.conftest import free_port
from tests.service_support import REPO, STALE_BRAND, STALE_MODEL, build_market, push_model_row, push_stale_model_row, service_env, train_champion

pytestmark = pytest.mark.slow

API_KEY = "test-key-not-a-secret"
MAX_BATCH = 50
LISTING = {"listing_id": "t-1", "brand": "Toyota", "model": "Avanza", "year": 2020, "mileage_km": 60_000,
           "fuel": "petrol", "transmission": "manual", "body_type": "mpv", "region": "Bali",
           "seller_type": "dealer", "asking_price": 150_000_000}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("service"))
    build_market(settings)
    push_stale_model_row(settings)
    metadata = train_champion(settings)
    port = free_port()
    env = service_env(settings, AUTOVALUE_API_KEY=API_KEY, AUTOVALUE_MAX_BATCH_SIZE=str(MAX_BATCH))
    server = ServerProcess(serve_command(port), env, port, settings.home / "serve.log").start()
    server.first_workers = sorted(server.worker_pids())
    yield settings, server, metadata
    server.stop()


@pytest.fixture(scope="module")
def client(stack):
    _, server, _ = stack
    with httpx.Client(base_url=server.url, headers={"X-API-Key": API_KEY}, timeout=30) as client:
        yield client


def valuate(client, **changes) -> httpx.Response:
    return client.post("/valuate", json={"listing": {**LISTING, **changes}})


def rounding(*prices: float) -> float:
    """How far prices rounded to whole units can move a log ratio of them."""
    return sum(0.5 / price for price in prices)


def test_a_valuation_has_interval_deal_rating_drivers_and_freshness(client, stack):
    _, _, metadata = stack
    response = valuate(client)
    assert response.status_code == 200, response.text
    v = response.json()
    assert v["listing_id"] == "t-1" and v["currency"] == "IDR"
    assert v["price_low"] < v["predicted_price"] < v["price_high"]
    # The 80% interval is the champion's residual quantiles around the estimate.
    assert math.log(v["price_high"] / v["predicted_price"]) == pytest.approx(
        metadata["interval"]["upper_log_offset"], abs=1e-5 + rounding(v["price_high"], v["predicted_price"]))
    # Money in whole rupiah: more digits would be noise.
    money = [v["predicted_price"], v["price_low"], v["price_high"], *(d["amount"] for d in v["value_drivers"])]
    assert all(amount == round(amount) for amount in money), money
    assert v["confidence"] == "high" and v["confidence_reasons"] == []
    bands = metadata["deal_bands_by_confidence"]["high"]
    assert v["deal_rating"] == deal_rating(v["asking_price"], v["predicted_price"], bands).value
    assert 1 <= len(v["value_drivers"]) <= 3
    for driver in v["value_drivers"]:
        assert re.fullmatch(r".+ [+-]Rp \d+(\.\d)? (jt|M|rb)", driver["label"]), driver
        assert driver["label"].startswith(driver["feature"])
    amounts = [abs(d["amount"]) for d in v["value_drivers"]]
    assert amounts == sorted(amounts, reverse=True)
    assert v["fallback"] == "model" and v["model_version"] == "v1" and v["feature_service"] == "valuation_v1"
    assert 0 <= v["market_data_age_s"] < 2 * 86400  # the market ends today, stats are per day


@pytest.mark.parametrize("rating, offset", [("great", 0), ("good", 1), ("fair", 2), ("high", 3), ("overpriced", 3)])
def test_deal_rating_compares_with_what_similar_cars_are_asked(client, stack, rating, offset):
    """The bands are the trainer's percentiles of log(asking / estimate) on held-out listings:
    just inside each band's upper edge (or past the last one) gets that band's rating."""
    _, _, metadata = stack
    bands = metadata["deal_bands_by_confidence"]["high"]
    assert bands == sorted(bands) and bands[1] < 0.05 < bands[2]  # the simulated asking premium is fair
    estimate = valuate(client).json()["predicted_price"]
    shift = -1e-3 if rating != "overpriced" else 1e-3
    asking = estimate * math.exp(bands[offset] + shift)
    assert valuate(client, asking_price=asking).json()["deal_rating"] == rating


def test_the_interval_widens_as_confidence_falls_and_low_gets_no_rating(client, stack):
    _, _, metadata = stack
    offsets = metadata["interval_by_confidence"]
    widths = {level: offsets[level]["upper_log_offset"] - offsets[level]["lower_log_offset"]
              for level in ("high", "medium", "low")}
    assert widths["high"] < widths["medium"] < widths["low"], widths
    known = valuate(client).json()
    unknown = valuate(client, brand="Tesla", model="Model 3").json()
    assert unknown["confidence"] == "low" and unknown["deal_rating"] is None
    assert any("Tesla" in reason for reason in unknown["confidence_reasons"]), unknown["confidence_reasons"]
    for v, level in ((known, "high"), (unknown, "low")):
        assert math.log(v["price_high"] / v["price_low"]) == pytest.approx(
            widths[level], abs=1e-5 + rounding(v["price_high"], v["price_low"]))


@pytest.mark.parametrize("changes, level, words", [
    ({"model": "Neverheard"}, "low", "not in the training data"),  # a brand the market knows
    ({"year": 2000}, "low", "before the first known"),  # Avanza years in the fixture market start later
    ({"mileage_km": 900_000}, "medium", "mileage is unusual"),
])
def test_confidence_says_what_it_does_not_know(client, changes, level, words):
    v = valuate(client, **changes).json()
    assert v["confidence"] == level, v
    assert any(words in reason for reason in v["confidence_reasons"]), v["confidence_reasons"]


def test_no_asking_price_no_deal_rating(client):
    v = valuate(client, asking_price=None).json()
    assert v["deal_rating"] is None and v["predicted_price"] > 0


@pytest.mark.parametrize("changes, fallback", [
    ({}, "model"),
    ({"model": "Neverheard"}, "brand"),  # a model key without market history
    ({"brand": STALE_BRAND, "model": STALE_MODEL}, "brand"),  # a model row older than the TTL
    ({"brand": "Nopebrand", "model": "Ghost", "body_type": "suv"}, "segment"),
    ({"brand": "Nopebrand", "model": "Ghost", "body_type": "convertible"}, "none"),  # no such market
])
def test_thin_markets_fall_back_to_coarser_keys(client, changes, fallback):
    response = valuate(client, **changes)
    assert response.status_code == 200, response.text
    v = response.json()
    assert v["fallback"] == fallback and v["predicted_price"] > 0
    assert (v["market_data_age_s"] is None) == (fallback == "none")
    if fallback != "none":
        assert v["market_data_age_s"] < 14 * 86400



def test_market_statistics_are_judged_at_the_listings_own_moment(client):
    """The stale fixture row (60 days old) is the market of a listing dated 60 days ago: a
    replayed or simulated market runs on its own calendar, as training's point-in-time join does."""
    stale_car = {"brand": STALE_BRAND, "model": STALE_MODEL}
    then = (datetime.now(timezone.utc) - timedelta(days=60, hours=-1)).isoformat()
    at_its_moment = valuate(client, **stale_car, listed_at=then).json()
    assert at_its_moment["fallback"] == "model", at_its_moment
    assert 0 <= at_its_moment["market_data_age_s"] < 2 * 3600  # pushed an hour before that moment
    now = valuate(client, **stale_car).json()
    assert now["fallback"] == "brand"

def test_batch_returns_one_valuation_per_listing_in_order(client):
    listings = [{**LISTING, "listing_id": f"b-{i}", "mileage_km": 10_000 * i,
                 "model": "Neverheard" if i % 3 == 0 else "Avanza"} for i in range(MAX_BATCH)]
    response = client.post("/valuate_batch", json={"listings": listings})
    assert response.status_code == 200, response.text
    batch = response.json()
    assert [v["listing_id"] for v in batch] == [x["listing_id"] for x in listings]
    assert [v["fallback"] for v in batch[:3]] == ["brand", "model", "model"]
    single = valuate(client, **{k: listings[7][k] for k in ("listing_id", "mileage_km", "model")}).json()
    assert batch[7]["predicted_price"] == pytest.approx(single["predicted_price"], rel=1e-6)


def test_concurrent_batches_are_merged_and_split_back(client, stack):
    """Adaptive batching may merge requests: each caller still gets exactly its listings."""
    from concurrent.futures import ThreadPoolExecutor

    _, server, _ = stack

    def call(n):
        listings = [{**LISTING, "listing_id": f"c{n}-{i}"} for i in range(n)]
        with httpx.Client(base_url=server.url, headers={"X-API-Key": API_KEY}, timeout=30) as c:
            return n, c.post("/valuate_batch", json={"listings": listings})

    with ThreadPoolExecutor(8) as pool:
        for n, response in pool.map(call, [1, 5, 17, 50, 3, 8, 30, 2]):
            assert response.status_code == 200, response.text
            assert [v["listing_id"] for v in response.json()] == [f"c{n}-{i}" for i in range(n)]


@pytest.mark.parametrize("changes, field", [
    ({"brand": None}, "listing.brand"),  # missing (null) required field
    ({"year": "twenty"}, "listing.year"),  # wrong type
    ({"mileage_km": "far"}, "listing.mileage_km"),
    ({"mileage_km": -1}, "listing.mileage_km"),  # negative mileage
    ({"year": 2027, "listed_at": "2025-03-01T00:00:00Z"}, "listing.year"),  # 2 years after the listing date
    ({"year": 1949}, "listing.year"),  # before 1950
    ({"fuel": "steam"}, "listing.fuel"),  # unknown enum values
    ({"body_type": "spaceship"}, "listing.body_type"),
    ({"transmission": "telepathic"}, "listing.transmission"),
    ({"seller_type": "robot"}, "listing.seller_type"),
    ({"asking_price": 0}, "listing.asking_price"),
    ({"asking_price": "inf"}, "listing.asking_price"),
    ({"listed_at": "yesterday-ish"}, "listing.listed_at"),
])
def test_each_bad_field_is_a_422_naming_it(client, changes, field):
    listing = {k: v for k, v in {**LISTING, **changes}.items() if v is not None}
    response = client.post("/valuate", json={"listing": listing})
    assert response.status_code == 422, response.text
    body = response.json()
    assert [f["field"] for f in body["fields"]] == [field]
    assert field in body["message"]


NOW = datetime.now(timezone.utc)
IMPOSSIBLE = {  # issue 14: each was a 200 before
    "price_1e308": ({"asking_price": 1e308}, "listing.asking_price"),
    "price_1e30": ({"asking_price": 1e30}, "listing.asking_price"),
    "bool_mileage": ({"mileage_km": True}, "listing.mileage_km"),
    "bool_price": ({"asking_price": False}, "listing.asking_price"),
    "bool_year": ({"year": True}, "listing.year"),
    "numeric_string_mileage": ({"mileage_km": "60000"}, "listing.mileage_km"),
    "future_date": ({"listed_at": (NOW + timedelta(hours=1)).isoformat()}, "listing.listed_at"),
    "far_future_date": ({"listed_at": "2999-01-01T00:00:00Z", "year": 2990}, "listing.listed_at"),
    "year_after_next": ({"year": NOW.year + 2}, "listing.year"),  # listed now (no listed_at)
    "empty_region": ({"region": " "}, "listing.region"),
    "nul_in_id": ({"listing_id": "t-\x001"}, "listing.listing_id"),
    "rtl_override_in_brand": ({"brand": "Toy\u202eota"}, "listing.brand"),
    "escape_in_model": ({"model": "Ava\x1bnza"}, "listing.model"),
    "zero_width_space_in_region": ({"region": "Ba\u200bli"}, "listing.region"),
}


@pytest.mark.parametrize("changes, field", IMPOSSIBLE.values(), ids=IMPOSSIBLE.keys())
def test_each_impossible_listing_is_a_422_naming_the_field(client, changes, field):
    response = valuate(client, **changes)
    assert response.status_code == 422, response.text
    body = response.json()
    assert [f["field"] for f in body["fields"]] == [field] and field in body["message"]
    batch = client.post("/valuate_batch", json={"listings": [LISTING, {**LISTING, **changes}]})
    assert batch.status_code == 422, batch.text
    assert [f["field"] for f in batch.json()["fields"]] == [field.replace("listing.", "listings.1.")]


def test_a_listing_at_every_boundary_is_valued(client):
    now = datetime.now(timezone.utc)
    response = valuate(client, year=now.year + 1, listed_at=(now + timedelta(seconds=60)).isoformat(),
                       mileage_km=60_000, asking_price=1_000_000, region="Jawa\u00a0Barat")
    assert response.status_code == 200, response.text
    assert response.json()["asking_price"] == 1e6 and response.json()["deal_rating"] == "great"


def test_every_bad_field_is_named_at_once(client):
    listing = {**LISTING, "mileage_km": -5, "fuel": "steam"}
    del listing["model"]
    response = client.post("/valuate", json={"listing": listing})
    assert response.status_code == 422
    assert {f["field"] for f in response.json()["fields"]} == {"listing.model", "listing.mileage_km", "listing.fuel"}


def test_a_bad_listing_in_a_batch_is_named_by_position(client):
    listings = [LISTING, {**LISTING, "mileage_km": -1}, {**LISTING, "year": 1900}]
    response = client.post("/valuate_batch", json={"listings": listings})
    assert response.status_code == 422
    assert [f["field"] for f in response.json()["fields"]] == ["listings.1.mileage_km", "listings.2.year"]


@pytest.mark.parametrize("listings", [[], [LISTING] * (MAX_BATCH + 1)], ids=["empty", "oversize"])
def test_empty_or_oversize_batch_is_a_422(client, listings):
    response = client.post("/valuate_batch", json={"listings": listings})
    assert response.status_code == 422, response.text
    assert [f["field"] for f in response.json()["fields"]] == ["listings"]


def _listing_with(literal: str, field: str = "mileage_km") -> bytes:
    """LISTING as JSON text with a bare `literal` as `field` (json.dumps would not write one)."""
    return json.dumps({**LISTING, field: 1.5}).replace("1.5", literal).encode()


def _with_literal(literal: str, field: str = "mileage_km") -> bytes:
    return b'{"listing": ' + _listing_with(literal, field) + b"}"


@pytest.mark.parametrize("body", [
    b'{"listing": {"listing_id": ', b"not json at all", b'{"listing": ' + b"[" * 5000,
    _with_literal("NaN"), _with_literal("Infinity", "asking_price"), _with_literal("-Infinity"),
    _with_literal("NaN", "an_ignored_extra_field"),  # pydantic's parser would let it through unseen
], ids=["truncated", "not_json", "too_deep", "nan", "infinity", "minus_infinity", "nan_in_extra_field"])
def test_malformed_json_is_a_400(client, body):
    response = client.post("/valuate", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "malformed JSON"
    if b"NaN" in body or b"Infinity" in body:
        assert "is not valid JSON" in response.json()["message"]


def test_the_words_nan_and_infinity_inside_strings_are_fine(client):
    assert valuate(client, brand="NaNo", region="Infinity Bay").status_code == 200


def test_a_non_finite_literal_in_a_batch_is_a_400(client):
    batch = client.post("/valuate_batch", content=b'{"listings": [' + _listing_with("NaN") + b"]}",
                        headers={"content-type": "application/json"})
    assert batch.status_code == 400 and "NaN" in batch.json()["message"]


def test_wrong_shapes_and_media_types_and_sizes_are_client_errors(client, stack):
    settings, _, _ = stack
    assert client.post("/valuate", json=[LISTING]).status_code == 422
    assert client.post("/valuate", json={"listing": "a string"}).status_code == 422
    assert client.post("/valuate", content=b"", headers={"content-type": "application/json"}).status_code == 422
    assert client.post("/valuate", data={"listing": "x"}).status_code == 415  # a form
    too_big = b'{"listing": "' + b"x" * settings.service_max_body_bytes + b'"}'
    assert client.post("/valuate", content=too_big, headers={"content-type": "application/json"}).status_code == 413
    # One listing over its share of the body limit: refused in the words of the scorer's dead letter.
    from autovalue.schema import too_large

    limit = settings.model_copy(update={"max_batch_size": MAX_BATCH}).listing_max_bytes  # the service's
    padded = json.dumps({"listing": {**LISTING, "notes": "x" * limit}}).encode()
    answer = client.post("/valuate", content=padded, headers={"content-type": "application/json"})
    assert answer.status_code == 413 and answer.json()["message"] == too_large(limit)
    batch = json.dumps({"listings": [{**LISTING, "notes": "x" * limit}] * 2}).encode()  # a batch may be larger
    assert client.post("/valuate_batch", content=batch, headers={"content-type": "application/json"}).status_code == 200


def test_nothing_sent_so_far_broke_the_worker(client, stack):
    _, server, _ = stack
    assert client.get("/readyz").status_code == 200
    assert valuate(client).status_code == 200
    assert server.first_workers and sorted(server.worker_pids()) == server.first_workers  # none restarted


def test_client_errors_and_requests_leave_no_trace_per_request(client, stack):
    """By now hundreds of requests, 4xx among them, went through: a caller's mistake is one INFO line,
    never an ERROR with a traceback, and there is no access line per request (AUTOVALUE_SERVICE_ACCESS_LOG)."""
    import time

    _, server, _ = stack
    assert valuate(client, year="not a year").status_code == 422
    deadline = time.monotonic() + 60
    while "client error on" not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    log = server.log_text()
    assert "[INFO]" in log and "client error on /valuate [POST]: ValidationError: 1 validation error" in log, log[-3000:]
    assert "Traceback" not in log and "[ERROR]" not in log, log[-3000:]
    assert "scheme=http" not in log, log[-3000:]  # BentoML's access line: (scheme=http,method=POST,path=...)


def test_the_service_listens_on_loopback_only(stack):
    """`autovalue serve` binds AUTOVALUE_SERVICE_HOST, 127.0.0.1 unless set."""
    _, server, _ = stack
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in open(table).read().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port = local.rsplit(":", 1)
            if state == "0A" and int(port, 16) == server.port:  # 0A: LISTEN
                listening.add(address)
    assert listening == {"0100007F"}, listening  # 127.0.0.1, little-endian hex


@pytest.mark.parametrize("path, status", [("/healthz", "alive"), ("/livez", "alive"), ("/readyz", "ready")])
def test_health_needs_no_key_and_answers_json(stack, path, status):
    _, server, _ = stack
    response = httpx.get(server.url + path)
    assert response.status_code == 200 and response.json()["status"] == status
    if path == "/readyz":  # which model this service serves
        assert response.json()["model_version"] == "v1" and response.json()["feature_service"] == "valuation_v1"


def test_the_root_is_autovalues_own_page_with_its_docs_and_no_third_party_script(stack):
    _, server, _ = stack
    page = httpx.get(server.url + "/")  # a browser sends no key
    assert page.status_code == 200 and "<title>AutoValue valuation service</title>" in page.text
    assert "model v1" in page.text and 'href="/docs"' in page.text
    docs = httpx.get(server.url + "/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    for text in (page.text, docs.text):
        assert "googletagmanager" not in text and not re.search(r"<script[^>]+src=\"(https?:)?//", text)
    assert httpx.get(server.url + "/docs/static/swagger-ui-bundle.js").status_code == 200
    spec = httpx.get(server.url + "/docs.json").json()
    assert spec["info"]["title"] == "AutoValue valuation service" and "/valuate" in spec["paths"]
    assert "http" not in json.dumps(spec["info"])  # BentoML's badges (images from other hosts) are gone
    # The API's input model is the declared listing, field for field.
    listing = next(s for s in spec["components"]["schemas"].values() if "mileage_km" in s.get("properties", {}))
    assert list(listing["properties"]) == LISTING_FIELDS


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}])
def test_everything_else_needs_the_key(stack, headers):
    _, server, _ = stack
    with httpx.Client(base_url=server.url, headers=headers) as c:
        assert c.post("/valuate", json={"listing": LISTING}).status_code == 401
        assert c.post("/valuate_batch", json={"listings": [LISTING]}).status_code == 401
        assert c.get("/metrics").status_code == 401


def test_the_key_as_header_or_bearer_token(stack):
    _, server, _ = stack
    for headers in ({"X-API-Key": API_KEY}, {"Authorization": f"Bearer {API_KEY}"}):
        assert httpx.post(server.url + "/valuate", json={"listing": LISTING}, headers=headers).status_code == 200


def test_metrics_count_valuations_by_deal_rating_and_fallback(client):
    valuate(client, model="Neverheard", asking_price=None)
    text = client.get("/metrics").text
    counts = {(m["rating"], m["fallback"]): float(m["n"]) for m in re.finditer(
        r'autovalue_valuations_total\{deal_rating="(?P<rating>\w+)",fallback="(?P<fallback>\w+)"\} (?P<n>[\d.e+]+)', text)}
    assert counts.get(("none", "brand"), 0) >= 1 and sum(counts.values()) >= 2, counts
    assert "bentoml_service_request_total" in text  # BentoML's own metrics are there too


def test_bentoml_build_packages_the_service_and_the_champion(stack):
    settings, _, _ = stack
    env = service_env(settings)
    result = subprocess.run([sys.executable, "-m", "bentoml", "build", "--output", "tag"], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    tag = result.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    assert tag.startswith("autovalue:")
    info = subprocess.run([sys.executable, "-m", "bentoml", "get", tag, "-o", "json"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert "autovalue-price:v1" in info.stdout, info.stdout + info.stderr


def market_listings(settings: Settings, n: int, seed: int) -> list:
    """`n` listings of the fixture market. It runs to the end of today: only rows listed by now
    are valid listings (a later one is dated in the future)."""
    import pandas as pd

    from autovalue.schema import Listing
    from market.io import read_source

    raw = read_source(settings.raw_dir, "market")
    raw = raw[raw["listed_at"] <= pd.Timestamp.now(tz="UTC")].sample(n, random_state=seed)
    return [Listing(**{**row, "listing_id": str(row["listing_id"])}) for row in raw.to_dict("records")]


def test_the_fast_encoder_gives_the_bundles_own_matrix(stack):
    """The service encodes Feast's values without pandas; the model must see the same input."""
    import numpy as np

    from autovalue.feature_inputs import feature_inputs
    from training.export import load_from_bento_store
    from autovalue.schema import Listing
    from bento.market import MarketReader
    from autovalue.schema import attribute_columns
    from feature_repo.config import feature_store

    settings, _, _ = stack
    bundle = load_from_bento_store(settings, "v1")
    listings = market_listings(settings, 300, seed=2)
    listings += [Listing(**{**LISTING, "brand": "Nopebrand", "model": "Ghost", "body_type": "convertible"})]
    read = MarketReader(feature_store(settings), "valuation_v1").read(feature_inputs(attribute_columns(listings)))
    import pandas as pd

    # The numpy path (the service's) and pandas coercion (a column of numbers as text) agree.
    frame = pd.DataFrame(read.features)
    np.testing.assert_array_equal(bundle.encode(read.features), bundle.encode(frame))
    text = {**read.features, "odometer_km": [str(v) for v in read.features["odometer_km"]]}
    np.testing.assert_array_equal(bundle.encode(text), bundle.encode(read.features))


def test_batches_on_more_threads_value_exactly_as_one_thread(stack):
    from training.export import load_from_bento_store
    from bento.market import MarketReader
    from bento.valuator import Valuator
    from feature_repo.config import feature_store

    settings, _, _ = stack
    bundle = load_from_bento_store(settings, "v1")
    listings = market_listings(settings, 200, seed=3)
    market = MarketReader(feature_store(settings), "valuation_v1")
    one = Valuator(bundle, market, 3).valuate(listings)
    two = Valuator(bundle, market, 3, batch_threads=2, threads_from_rows=64).valuate(listings)
    assert two[0].model_version == one[0].model_version
    for a, b in zip(one, two):
        assert b.predicted_price == pytest.approx(a.predicted_price, rel=1e-6)
        assert [d.feature for d in b.value_drivers] == [d.feature for d in a.value_drivers]



def test_a_shadow_prices_the_served_read_as_its_own(stack):
    """The shadow reuses the served model's feature read when that read serves it: the prices
    are its own read's to the unit, and the online store is read once, not twice."""
    from training.export import load_from_bento_store
    from bento.market import MarketReader
    from bento.valuator import Valuator
    from feature_repo.config import feature_store

    settings, _, _ = stack
    bundle = load_from_bento_store(settings, "v1")
    listings = market_listings(settings, 50, seed=4)
    served = Valuator(bundle, MarketReader(feature_store(settings), "valuation_v1"), 3)
    shadow = Valuator(bundle, MarketReader(feature_store(settings), "valuation_v1"), 3)
    reads = []
    original = shadow.market.read
    shadow.market.read = lambda rows: reads.append(rows) or original(rows)
    assert shadow.reads_like(served)
    _, read = served.read(listings)
    assert shadow.prices(listings, read) == [v.predicted_price for v in served.valuate(listings)]
    assert reads == []
    assert shadow.prices(listings) == shadow.prices(listings, read) and len(reads) == 1

def test_market_rows_are_reused_for_the_cache_time_then_read_again(stack):
    """A key's row (even its absence) is served from the cache until it expires, then re-read."""
    from autovalue.feature_inputs import feature_inputs
    from autovalue.schema import Listing
    from autovalue.valuation import Fallback
    from bento.market import MarketReader
    from autovalue.schema import attribute_columns
    from feature_repo.config import feature_store

    settings, _, _ = stack
    listing = Listing(**{**LISTING, "brand": "Toyota", "model": "Cache Probe"})
    rows = feature_inputs(attribute_columns([listing]))
    clock = [0.0]  # the cache's own clock, moved by hand: the test does not depend on timing
    reader = MarketReader(feature_store(settings), "valuation_v1", cache_s=1.0, clock=lambda: clock[0])
    assert reader.read(rows).fallback == [Fallback.brand]  # no such model yet
    push_model_row(settings, "Toyota", "Cache Probe")
    clock[0] = 0.9
    assert reader.read(rows).fallback == [Fallback.brand]  # still the cached absence
    clock[0] = 1.1
    fresh = reader.read(rows)
    assert fresh.fallback == [Fallback.model] and fresh.features[reader.levels[0].features[0]] == [1.0]
    assert MarketReader(feature_store(settings), "valuation_v1").read(rows).fallback == [Fallback.model]


@pytest.mark.parametrize("amount, currency, label", [
    (-8_249_000, "IDR", "-Rp 8.2 jt"), (1_250_000_000, "IDR", "+Rp 1.2 M"), (-950_400, "IDR", "-Rp 950 rb"),
    (120, "IDR", "+Rp 120"), (-1234.4, "USD", "-USD 1,234"), (float("nan"), "IDR", "+IDR ?"),
])
def test_money_labels(amount, currency, label):
    from bento.drivers import format_money

    assert format_money(amount, currency, signed=True) == label
