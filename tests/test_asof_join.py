"""The market views' as-of join (feature_repo.asof_join) is Feast's point-in-time join, row for
row: at a row's own stamp, at the TTL's last instant and just past it, between rows, for keys the
market never had, in another time zone; and it steps aside where Feast's result is not its own."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from autovalue.parquet import read_parquet
from autovalue.settings import Settings
from feature_repo.asof_join import market_asof
from feature_repo.config import feature_store
from feature_repo.definitions import STATS_TTL
from feature_repo.pipeline import build_features
from feature_repo.service_features import ServiceFeatures
from market.generate import generate_market
from market.io import read_source


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("asof"))
    generate_market(settings.raw_dir, 8_000, seed=5, end=date(2026, 3, 31), days=120, progress=False)
    build_features(settings, read_source(settings.raw_dir, "market"), progress=False)
    return ServiceFeatures(feature_store(settings), settings.feature_service), settings


def _edge_entities(settings) -> pd.DataFrame:
    """Entity rows around real feature rows: at the stamp, a microsecond before it, at the TTL's
    end, a microsecond past it, mid-day; keys of three levels, some unknown."""
    table = read_parquet(settings.processed_dir / "model_market.parquet")
    rows = table.sample(40, random_state=3)
    segments = ["mpv", "suv", "sedan", "hatchback"]
    offsets = [pd.Timedelta(0), pd.Timedelta(microseconds=-1), STATS_TTL, STATS_TTL + pd.Timedelta(microseconds=1),
               pd.Timedelta(hours=13, minutes=7)]
    entity = []
    for i, (_, row) in enumerate(rows.iterrows()):
        for offset in offsets:
            brand = row["model_key"].split("|")[0]
            entity.append({"model_key": row["model_key"], "brand_key": brand,
                           "segment": segments[i % len(segments)], "event_timestamp": row["event_timestamp"] + offset})
    entity.append({"model_key": "nobody|never", "brand_key": "nobody", "segment": "spaceship",
                   "event_timestamp": table["event_timestamp"].max()})
    frame = pd.DataFrame(entity)
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    frame.insert(0, "row_id", range(len(frame)))
    return frame


def _assert_same(got: dict, expected: dict) -> None:
    assert set(got) == set(expected)
    for name in expected:
        assert np.array_equal(np.asarray(got[name], dtype=float), np.asarray(expected[name], dtype=float),
                              equal_nan=True), name


def test_the_asof_join_is_feasts_join_at_the_edges(spec):
    service, settings = spec
    entity = _edge_entities(settings)
    got = market_asof(service.store, service.market_projections, entity)
    expected = service.feast_historical(entity)
    _assert_same(got, expected)
    # The edges were real: some rows found nothing (past the TTL, unknown keys), most found values.
    values = np.asarray(got["model_ask_index_30d"], dtype=float)
    assert np.isnan(values).any() and (~np.isnan(values)).sum() > len(values) // 2


def test_a_time_zone_is_an_instant_not_a_wall_clock(spec):
    """The same instants given in Jakarta time join the same rows (a slip would move them 7 hours)."""
    service, settings = spec
    entity = _edge_entities(settings)
    local = entity.assign(event_timestamp=entity["event_timestamp"].dt.tz_convert("Asia/Jakarta"))
    _assert_same(market_asof(service.store, service.market_projections, local),
                 market_asof(service.store, service.market_projections, entity))
    shifted = entity.assign(event_timestamp=entity["event_timestamp"].dt.tz_localize(None).dt.tz_localize("Asia/Jakarta"))
    moved = market_asof(service.store, service.market_projections, shifted)
    assert not np.array_equal(np.asarray(moved["model_ask_index_30d"], dtype=float),
                              np.asarray(market_asof(service.store, service.market_projections, entity)["model_ask_index_30d"], dtype=float),
                              equal_nan=True)


def test_duplicate_stamps_are_left_to_feast(spec, tmp_path):
    """Two rows of one key at one stamp: Feast picks one arbitrarily, so the as-of join steps aside
    and the dataset still comes out (through Feast)."""
    service, settings = spec
    path = settings.processed_dir / "segment_market.parquet"
    original = read_parquet(path)
    try:
        newest = original[original["event_timestamp"] == original["event_timestamp"].max()].iloc[:1]
        pd.concat([original, newest], ignore_index=True).to_parquet(path, index=False)
        entity = _edge_entities(settings)
        assert market_asof(service.store, service.market_projections, entity) is None
        joined = service.historical(entity, _request(len(entity)))
        expected = service.feast_historical(entity)
        _assert_same({name: joined[name] for name in expected}, expected)
        assert len(joined["age_years"]) == len(entity)
    finally:
        original.to_parquet(path, index=False)


def _request(n: int) -> dict:
    from autovalue.feature_inputs import feature_inputs

    listing = {"brand": ["Toyota"] * n, "model": ["Avanza"] * n, "listed_at": [pd.Timestamp("2026-03-01", tz="UTC")] * n,
               "year": [2020] * n, "mileage_km": [50_000.0] * n, "fuel": ["petrol"] * n, "transmission": ["manual"] * n,
               "body_type": ["mpv"] * n, "region": ["Bali"] * n, "seller_type": ["dealer"] * n}
    return feature_inputs(listing)
