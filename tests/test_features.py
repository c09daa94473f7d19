"""The Feast repo: point-in-time correctness, TTL, online reads; embedded and production configs."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from autovalue.feature_inputs import feature_inputs
from autovalue.parquet import read_parquet
from autovalue.settings import Settings
from feature_repo.config import feature_store
from feature_repo.definitions import STATS_TTL
from feature_repo.market_stats import keyed_listings
from feature_repo.pipeline import build_features
from market.generate import generate_market
from market.io import read_source
from feature_repo.service_features import ServiceFeatures
from training.dataset import build_dataset

END = date(2026, 6, 30)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("feast"))
    generate_market(settings.raw_dir, 30_000, seed=11, end=END, days=240, progress=False)
    raw = read_source(settings.raw_dir, "market")
    build_features(settings, raw, progress=False)
    return settings, raw


@pytest.fixture(scope="module")
def dataset(embedded):
    settings, _ = embedded
    return build_dataset(settings)


def test_feature_service_is_the_single_contract(embedded, dataset):
    settings, _ = embedded
    spec = ServiceFeatures(feature_store(settings), settings.feature_service)
    names, categorical = spec.features, spec.categorical
    assert dataset.features == names and dataset.categorical == categorical
    assert {"model_sold_index_30d", "brand_ask_index_30d", "segment_ask_index_30d", "age_years"} <= set(names)
    assert "car_model" in categorical and "age_years" not in categorical


def test_one_row_per_sale_labelled_with_the_sold_price_at_listing_time(embedded, dataset):
    """The market of a sale is joined as of its listing: the moment the service values a listing."""
    _, raw = embedded
    sold = raw[raw["sold_price"].notna()].set_index("listing_id")
    frame = dataset.frame.set_index("listing_id")
    assert len(frame) == len(sold) and frame.index.is_unique
    assert np.allclose(frame.loc[sold.index, "label"], sold["sold_price"])
    assert (frame.loc[sold.index, "event_timestamp"] == sold["listed_at"]).all()
    assert (frame.loc[sold.index, "year"] == sold["year"]).all()


def test_asking_rows_are_every_priced_listing_at_its_listing_time(embedded, dataset):
    _, raw = embedded
    priced = raw[raw["asking_price"].notna()].set_index("listing_id")
    asking = dataset.asking.set_index("listing_id")
    assert len(asking) == len(priced) and asking.index.is_unique
    assert np.allclose(asking.loc[priced.index, "label"], priced["asking_price"])
    assert (asking.loc[priced.index, "event_timestamp"] == priced["listed_at"]).all()
    assert set(asking.columns) >= set(dataset.features)


def _recompute(listings: pd.DataFrame, key: str, at: pd.Timestamp, days: int) -> dict:
    """Market features from raw listings strictly before the day of `at` began."""
    midnight = at.floor("D")
    start = midnight - pd.Timedelta(days=days)
    model = listings[listings["model_key"] == key]
    listed = model[(model["listed_at"] >= start) & (model["listed_at"] < midnight)]
    sold = model[(model["sold_at"] >= start) & (model["sold_at"] < midnight)]
    return {
        f"model_listings_{days}d": float(len(listed)),
        f"model_ask_index_{days}d": float(np.median(listed["ask_adjusted"])) if len(listed) else np.nan,
        f"model_sold_index_{days}d": float(np.median(sold["sold_adjusted"])) if len(sold) else np.nan,
        f"model_sales_{days}d": float(len(sold)),
    }


def test_no_leakage_features_equal_a_recomputation_from_the_past(embedded, dataset):
    _, raw = embedded
    listings = keyed_listings(raw)
    sample = dataset.frame[dataset.frame["event_timestamp"] > dataset.frame["event_timestamp"].min() + pd.Timedelta(days=100)]
    for _, row in sample.sample(40, random_state=1).iterrows():
        for days in (7, 30):
            expected = _recompute(listings, row["model_key"], row["event_timestamp"], days)
            for name, value in expected.items():
                assert row[name] == pytest.approx(value, nan_ok=True), (row["listing_id"], name)


def test_a_row_stamped_after_the_event_is_never_used(embedded):
    settings, _ = embedded
    store = feature_store(settings)
    table = read_parquet(settings.processed_dir / "model_market.parquet")
    rows = table[table["model_key"] == "toyota|avanza"].sort_values("event_timestamp").iloc[100:102]
    before, after = rows.iloc[0], rows.iloc[1]
    entity = pd.DataFrame({"model_key": ["toyota|avanza"] * 2,
                           "event_timestamp": [after["event_timestamp"] - pd.Timedelta(seconds=1), after["event_timestamp"]]})
    got = store.get_historical_features(entity_df=entity, features=["model_market:model_ask_index_30d"],
                                        filter_by_created_timestamp=True).to_df().sort_values("event_timestamp")
    assert got["model_ask_index_30d"].tolist() == pytest.approx([before["model_ask_index_30d"], after["model_ask_index_30d"]])
    assert before["model_ask_index_30d"] != after["model_ask_index_30d"]


def test_ttl_expiry_gives_nulls_not_stale_values(embedded):
    settings, _ = embedded
    store = feature_store(settings)
    last = read_parquet(settings.processed_dir / "model_market.parquet")["event_timestamp"].max()
    entity = pd.DataFrame({"model_key": ["toyota|avanza"] * 2,
                           "event_timestamp": [last + STATS_TTL - pd.Timedelta(hours=1), last + STATS_TTL + pd.Timedelta(days=1)]})
    got = store.get_historical_features(entity_df=entity, features=["model_market:model_ask_index_30d"]).to_df()
    got = got.sort_values("event_timestamp")["model_ask_index_30d"].tolist()
    assert got[0] == got[0] and got[1] != got[1]  # a value, then NaN


def _listing(**overrides) -> dict:
    row = {"brand": "Toyota", "model": "Avanza", "listed_at": pd.Timestamp.now(tz="UTC"), "year": 2020,
           "mileage_km": 60_000.0, "fuel": "petrol", "transmission": "manual", "body_type": "mpv",
           "region": "Bali", "seller_type": "dealer"}
    row.update(overrides)
    return row


def _online(settings: Settings, listings: list[dict]) -> dict:
    store = feature_store(settings)
    inputs = feature_inputs({k: [row[k] for row in listings] for k in listings[0]})
    return store.get_online_features(features=store.get_feature_service(settings.feature_service),
                                     entity_rows=inputs).to_dict()


def test_online_read_serves_market_and_request_features(embedded):
    settings, _ = embedded
    online = _online(settings, [_listing(), _listing(brand="Nopebrand", model="Ghost", body_type="suv")])
    assert online["model_ask_index_30d"][0] is not None and online["age_years"][0] > 5
    assert online["car_model"] == ["toyota|avanza", "nopebrand|ghost"]
    # An unknown model has no model-level market but still its segment's: the fallback.
    assert online["model_ask_index_30d"][1] is None and online["segment_ask_index_30d"][1] is not None


def test_the_same_code_computes_request_features_for_training_and_serving(embedded, dataset):
    settings, raw = embedded
    row = raw[raw["sold_price"].notna()].iloc[0]
    online = _online(settings, [row.to_dict()])
    trained = dataset.frame.set_index("listing_id").loc[row["listing_id"]]
    for name in ("age_years", "km_per_year", "car_model", "car_region"):
        assert online[name][0] == pytest.approx(trained[name]) if isinstance(trained[name], float) else online[name][0] == trained[name]


@pytest.mark.production
def test_production_configuration_redis_online_postgres_registry(embedded, tmp_path):
    """The compose file's Feast settings, against the PostgreSQL and Redis running here."""
    embedded_settings, raw = embedded
    project = f"autovalue_test_{uuid.uuid4().hex[:8]}"
    settings = Settings(home=tmp_path, feast_mode="production", feast_project=project,
                        feast_registry_url="postgresql+psycopg://postgres@127.0.0.1:5432/test",
                        feast_redis="127.0.0.1:6379,db=0")
    build_features(settings, raw, progress=False)
    store = feature_store(settings)
    assert type(store._get_provider().online_store).__name__ == "RedisOnlineStore"
    listing = [_listing()]
    production, embedded_read = _online(settings, listing), _online(embedded_settings, listing)
    assert production["model_ask_index_30d"] == pytest.approx(embedded_read["model_ask_index_30d"])
    assert production["segment_listings_30d"] == embedded_read["segment_listings_30d"]
    store.teardown()


def test_streamed_listings_are_pushed_as_fresh_market_statistics(embedded):
    from autovalue.schema import Listing
    from feature_repo.live import LiveMarket

    settings, raw = embedded
    store = feature_store(settings)
    history = raw.copy()
    # Shift the history so that it ends now, as a live market's would.
    shift = pd.Timestamp.now(tz="UTC") - history["listed_at"].max()
    history["listed_at"] += shift
    history["sold_at"] += shift
    live = LiveMarket(store, history)
    before = _online(settings, [_listing(brand="Wuling", model="Air ev", body_type="hatchback")])
    jakarta = timezone(timedelta(hours=7))  # listings may carry any offset, mixed in one push
    expensive = [Listing(listing_id=f"push-{i}", brand="Wuling", model="Air ev", year=2024, mileage_km=1000.0,
                         body_type="hatchback", asking_price=2e9,
                         listed_at=datetime.now(jakarta if i % 2 else timezone.utc)) for i in range(400)]
    live.add(expensive)
    assert live.push() == 3  # its model's, its brand's and its segment's rows
    assert live.push() == 0  # nothing new arrived
    after = _online(settings, [_listing(brand="Wuling", model="Air ev", body_type="hatchback")])
    assert after["model_listings_7d"][0] >= 400
    assert after["model_ask_median_7d"][0] == pytest.approx(2e9)
    assert after["model_ask_median_7d"][0] != before["model_ask_median_7d"][0]
    # Listings without an asking price say nothing about asking prices: they must not turn the
    # medians into NaN.
    live.add([Listing(listing_id=f"unpriced-{i}", brand="Wuling", model="Air ev", year=2024, mileage_km=1000.0,
                      body_type="hatchback") for i in range(3)])
    assert live.push() == 0
    again = _online(settings, [_listing(brand="Wuling", model="Air ev", body_type="hatchback")])
    assert {k: v for k, v in again.items() if k.startswith("model_")} == \
        {k: v for k, v in after.items() if k.startswith("model_")}


def test_the_live_market_runs_on_the_streams_own_calendar(embedded):
    """A stream dated on its market's calendar (a simulated or replayed market, behind the wall
    clock): the windows end at its newest listing, and the pushed row is stamped there."""
    from autovalue.keys import model_key
    from autovalue.schema import Listing
    from feature_repo.live import LiveMarket

    settings, raw = embedded
    live = LiveMarket(feature_store(settings), raw.copy())
    end = max(pd.to_datetime(raw["listed_at"], utc=True).max(), pd.to_datetime(raw["sold_at"], utc=True).max())
    assert pd.Timestamp(live.clock) == end  # the history's newest moment, before any listing streamed
    streamed = [Listing(listing_id=f"calendar-{day}-{i}", brand="Wuling", model="Air ev", year=2022,
                        mileage_km=1000.0, body_type="hatchback", asking_price=1e9 if day < 10 else 3e9,
                        listed_at=(end + pd.Timedelta(days=day)).to_pydatetime())
                for day in range(1, 21) for i in range(10)]
    live.add(streamed)
    # A market day has passed: every key gets a row, as the batch pipeline writes one a day.
    assert live.push() > 3
    assert pd.Timestamp(live.clock) == end + pd.Timedelta(days=20)
    for level, key in (("brand", "wuling"), ("segment", "hatchback")):
        assert live.rows({key}, live.clock, level).iloc[0]["event_timestamp"] == end + pd.Timedelta(days=20)
    row = live.rows({model_key("Wuling", "Air ev")}, live.clock).iloc[0]
    assert row["event_timestamp"] == end + pd.Timedelta(days=20)
    # [clock - 7 days, clock): stream days 13-19, the cars asked 3e9, and no history listing.
    assert row["model_listings_7d"] == 70 and row["model_ask_median_7d"] == pytest.approx(3e9)
    assert row["model_listings_30d"] >= 190


def test_batch_reader_returns_exactly_what_feast_returns(embedded):
    settings, raw = embedded
    store = feature_store(settings)
    listings = raw.sample(60, random_state=3).to_dict("records") + [_listing(brand="Nopebrand", model="Ghost")]
    inputs = feature_inputs({k: [row[k] for row in listings] for k in _listing()})
    expected = store.get_online_features(features=store.get_feature_service(settings.feature_service),
                                         entity_rows=inputs).to_dict()
    got = ServiceFeatures(store, settings.feature_service).read_online(inputs)
    assert set(got) == set(expected)
    for name in expected:
        assert got[name] == expected[name], name


LEAN_READ = """
import json, sys
from bento.lean_imports import skip_type_check_instrumentation
assert skip_type_check_instrumentation()
from autovalue.feature_inputs import feature_inputs
from autovalue.settings import Settings
from feature_repo.config import feature_store
from feature_repo.service_features import ServiceFeatures
from market.io import read_source
settings = Settings(home=sys.argv[1])
listings = read_source(settings.raw_dir, "market").sample(60, random_state=3).to_dict("records")
inputs = feature_inputs({k: [row[k] for row in listings] for k in json.loads(sys.argv[2])})
print(json.dumps(ServiceFeatures(feature_store(settings), settings.feature_service).read_online(inputs), default=str))
"""


@pytest.mark.slow  # a fresh interpreter imports Feast
def test_a_service_worker_reads_the_same_without_feasts_type_checks(embedded):
    """A worker imports Feast with typeguard's decorator a no-op (bento/lean_imports.py)."""
    settings, raw = embedded
    listings = raw.sample(60, random_state=3).to_dict("records")
    inputs = feature_inputs({k: [row[k] for row in listings] for k in _listing()})
    expected = ServiceFeatures(feature_store(settings), settings.feature_service).read_online(inputs)
    out = subprocess.run([sys.executable, "-c", LEAN_READ, str(settings.home), json.dumps(list(_listing()))],
                         capture_output=True, text=True, check=True, timeout=300)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == json.loads(json.dumps(expected, default=str))


def test_dataset_equals_feasts_own_join_through_the_feature_service(embedded, dataset):
    settings, raw = embedded
    store = feature_store(settings)
    sample = dataset.frame.sample(200, random_state=5).reset_index(drop=True)
    source = raw.set_index("listing_id").loc[sample["listing_id"]].reset_index()
    entity = pd.DataFrame(feature_inputs({k: source[k] for k in _listing()}))
    entity["row_id"] = range(len(entity))
    entity["event_timestamp"] = sample["event_timestamp"]
    expected = store.get_historical_features(entity_df=entity, features=store.get_feature_service(settings.feature_service),
                                             filter_by_created_timestamp=True).to_df()
    expected = expected.sort_values("row_id").reset_index(drop=True)
    for name in dataset.features:
        if name in dataset.categorical:
            assert expected[name].tolist() == sample[name].tolist(), name
        else:
            assert np.allclose(expected[name].astype(float), sample[name].astype(float), equal_nan=True), name


def test_dataset_command_writes_what_train_reads(embedded, dataset, tmp_path, monkeypatch):
    """`autovalue dataset --out F` then `autovalue train --dataset F`: the same TrainingData."""
    from autovalue.settings import get_settings
    from autovalue_cli.main import main
    from training.dataset_files import load_dataset

    settings, _ = embedded
    monkeypatch.setenv("AUTOVALUE_HOME", str(settings.home))
    get_settings.cache_clear()
    try:
        assert main(["dataset", "--out", str(tmp_path / "ds.parquet")]) == 0
    finally:
        get_settings.cache_clear()
    loaded = load_dataset(tmp_path / "ds.parquet")
    assert (loaded.features, loaded.categorical, loaded.feature_service) == \
           (dataset.features, dataset.categorical, dataset.feature_service)
    assert len(loaded.frame) == len(dataset.frame)


@pytest.mark.slow  # imports and builds the features of 46,904 real listings
def test_dataset_from_imported_real_data(real_data, tmp_path):
    """vehicles_us has listing dates: market features point-in-time; CarDekho has none: request-time only."""
    from market.importer import import_csv

    settings = Settings(home=tmp_path)
    import_csv(real_data / "vehicles_us.csv", "vehicles_us", settings.raw_dir)
    import_csv(real_data / "cardekho_car_details_v3.csv", "cardekho", settings.raw_dir)
    build_features(settings, read_source(settings.raw_dir, "vehicles_us"), progress=False, source="vehicles_us")
    dated = build_dataset(settings, "vehicles_us")
    assert dated.feature_service == "vehicles_us_valuation_v1"
    assert len(dated.frame) == 46_904 and dated.has_dates and dated.currency == "USD"
    assert dated.frame["model_ask_index_30d"].notna().mean() > 0.9
    assert (dated.frame["label"] >= 500).all()
    undated = build_dataset(settings, "cardekho")
    assert not undated.has_dates and len(undated.frame) == 6_926
    assert "model_ask_index_30d" not in undated.features and "age_years" in undated.features
    # CarDekho's declared attributes are features of its own feature service, missing values kept.
    assert undated.feature_service.startswith("cardekho_valuation_v1_")
    assert {"car_engine_cc", "car_power_bhp", "car_fuel_economy", "car_seats", "car_owners"} <= set(undated.features)
    assert "car_owners" in undated.categorical
    assert 0 < undated.frame["car_engine_cc"].isna().sum() < 0.05 * len(undated.frame)
    store = feature_store(settings)
    services = {service.name: service for service in store.list_feature_services()}
    # Each market reads only its own views: the simulated market's statistics answer neither.
    assert {p.name for p in services["vehicles_us_valuation_v1"].feature_view_projections} == {
        "vehicles_us__model_market", "vehicles_us__brand_market", "vehicles_us__segment_market",
        "vehicles_us__listing_features"}
    assert [p.name for p in services[undated.feature_service].feature_view_projections] == ["cardekho__listing_features"]
