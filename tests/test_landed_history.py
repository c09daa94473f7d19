"""`autovalue history`: the stream's landed history from a real SQLite database written through
the real tables, on a market of its own with attributes (engine size, trim)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from autovalue.market_attributes import feature_service_name, parse_attributes
from autovalue.schema import CANONICAL_COLUMNS
from autovalue.settings import Settings
from autovalue.tables import connect, outcomes, valuations
from market.io import read_meta, read_source, write_source
from tests.test_cli import assert_one_line_error, run_cli
from tests.test_outcomes import postgres, postgres_name  # noqa: F401 (a fixture)
from training.landed_history import LANDED_SOURCE, build_landed_history

SOURCE = "own"
DECLARED = [{"name": "engine_cc", "kind": "number"}, {"name": "trim", "kind": "category"}]
ATTRIBUTES = parse_attributes(DECLARED)
SERVICE = feature_service_name("valuation_v1", SOURCE, ATTRIBUTES)
CLOCK = datetime(2026, 6, 30, 12, tzinfo=timezone.utc)  # the newest listing valued
DAY = timedelta(days=1)


def car(listing_id: str, listed_at: datetime, **extra) -> dict:
    return {"listing_id": listing_id, "listed_at": listed_at, "brand": "Toyota", "model": "Avanza", "year": 2019,
            "mileage_km": 60_000.0, "fuel": "petrol", "transmission": "manual", "body_type": "mpv",
            "region": "DKI Jakarta", "seller_type": "dealer", "asking_price": 150e6, "sold_at": pd.NaT,
            "sold_price": float("nan"), "engine_cc": 1300.0, "trim": "G", **extra}


def valuation(listing_id: str, listed_at: datetime, created_at: datetime, version: str = "v1",
              service: str = SERVICE, **extra) -> dict:
    row = {"listing_id": listing_id, "listed_at": listed_at, "brand": "Honda", "model": "Jazz", "year": 2021,
           "mileage": 30_000.0, "fuel": "petrol", "transmission": "automatic", "body_type": "hatchback",
           "region": "Bali", "seller_type": "individual", "asking_price": 200e6,
           "attributes": json.dumps({"engine_cc": 1500.0, "trim": "RS"}), "predicted_price": 190e6,
           "model_version": version, "feature_service": service, "created_at": created_at}
    return {**row, **extra}


def outcome(listing_id: str, kind: str, outcome_at: datetime, days: float, sold_price: float | None = None) -> dict:
    return {"listing_id": listing_id, "outcome": kind, "sold_price": sold_price, "days_on_market": days,
            "outcome_at": outcome_at, "stored_at": outcome_at}


@pytest.fixture
def home(tmp_path) -> Settings:
    return filled(Settings(home=tmp_path, market_source=SOURCE, history_withdrawal_horizon_days=30))


def filled(settings: Settings) -> Settings:
    """The market's history (two listings) and a stream of every kind in the database."""
    history = pd.DataFrame([car("h1", CLOCK - 300 * DAY, sold_at=pd.Timestamp(CLOCK - 290 * DAY), sold_price=140e6),
                            car("h2", CLOCK - 200 * DAY)])
    history["listed_at"] = pd.to_datetime(history["listed_at"], utc=True)
    history["sold_at"] = pd.to_datetime(history["sold_at"], utc=True)
    write_source(settings.raw_dir, SOURCE, [history], {"source": SOURCE, "currency": "IDR", "has_listing_dates": True,
                                                       "attributes": DECLARED}, ["engine_cc", "trim"])
    engine = connect(settings.database)
    with engine.begin() as connection:
        connection.execute(valuations.insert(), [
            valuation("sold", CLOCK - 10 * DAY, CLOCK - 10 * DAY),
            # A later rescore by another model: the listing as first valued is the one kept.
            valuation("sold", CLOCK - 10 * DAY, CLOCK - 2 * DAY, version="v2", asking_price=999e6, mileage=1.0),
            valuation("withdrawn", CLOCK - 20 * DAY, CLOCK - 20 * DAY, attributes=None, mileage=None),
            valuation("old-unsold", CLOCK - 60 * DAY, CLOCK - 60 * DAY),
            valuation("replayed-sale", CLOCK - 40 * DAY, CLOCK - 40 * DAY),
            valuation("still-listed", CLOCK, CLOCK),
            valuation("h2", CLOCK - 200 * DAY, CLOCK),  # a replay of the history's own listing
            valuation("other-market", CLOCK - 50 * DAY, CLOCK, service="valuation_v1"),
        ])
        connection.execute(outcomes.insert(), [
            outcome("sold", "sold", CLOCK - 5 * DAY, 6.0, 180e6),
            outcome("withdrawn", "withdrawn", CLOCK - DAY, 19.0),
            # Outcome stamped by the wall clock long after the listing's own (replayed) date.
            outcome("replayed-sale", "sold", CLOCK + 300 * DAY, 3.0, 170e6),
            outcome("h2", "sold", CLOCK, 5.0, 1.0),
        ])
    return settings


def test_history_appends_the_labelled_stream_with_its_outcomes_and_attributes(home):
    history, path = build_landed_history(home)
    frame = read_source(home.raw_dir, LANDED_SOURCE)
    assert path == home.raw_dir / "landed.parquet"
    assert list(frame.columns) == [*CANONICAL_COLUMNS, "engine_cc", "trim"]
    # The market's history first, as it was; then the labelled streamed listings, oldest first.
    assert frame["listing_id"].tolist() == ["h1", "h2", "old-unsold", "replayed-sale", "withdrawn", "sold"]
    assert (history.sold, history.withdrawn, history.unsold_past_horizon, history.still_listed,
            history.already_in_history) == (2, 1, 1, 1, 1)
    rows = frame.set_index("listing_id")
    sold = rows.loc["sold"]
    assert sold["mileage_km"] == 30_000.0 and sold["asking_price"] == 200e6  # the first valuation's, not the rescore's
    assert (sold["engine_cc"], sold["trim"]) == (1500.0, "RS")
    assert sold["sold_price"] == 180e6 and sold["sold_at"] == pd.Timestamp(CLOCK - 5 * DAY)
    assert sold["listed_at"] == pd.Timestamp(CLOCK - 10 * DAY) and sold["year"] == 2021
    assert rows.loc["replayed-sale", "sold_at"] == pd.Timestamp(CLOCK - 37 * DAY)  # listed + days on market
    withdrawn = rows.loc["withdrawn"]
    assert pd.isna(withdrawn["sold_at"]) and pd.isna(withdrawn["sold_price"])
    assert pd.isna(withdrawn["mileage_km"]) and pd.isna(withdrawn["engine_cc"]) and withdrawn["trim"] is None
    assert pd.isna(rows.loc["old-unsold", "sold_price"])
    assert rows.loc["h2", "sold_price"] != 1.0  # the history's own row stays
    assert frame["listed_at"].dtype == read_source(home.raw_dir, SOURCE)["listed_at"].dtype
    meta = read_meta(home.raw_dir, LANDED_SOURCE)
    assert meta["has_listing_dates"] is True and meta["currency"] == "IDR" and meta["attributes"] == DECLARED
    assert meta["streamed_sales"] == 2 and "noise_floor_mape" not in meta


@pytest.mark.production
def test_history_on_postgresql(tmp_path, postgres_name):
    postgres(f"CREATE DATABASE {postgres_name}")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{postgres_name}"
    on_postgres = filled(Settings(home=tmp_path / "pg", market_source=SOURCE, history_withdrawal_horizon_days=30,
                                  database_url=url))
    on_sqlite = filled(Settings(home=tmp_path / "sqlite", market_source=SOURCE, history_withdrawal_horizon_days=30))
    build_landed_history(on_postgres)
    build_landed_history(on_sqlite)
    pd.testing.assert_frame_equal(read_source(on_postgres.raw_dir, LANDED_SOURCE),
                                  read_source(on_sqlite.raw_dir, LANDED_SOURCE))


def test_history_is_idempotent(home):
    build_landed_history(home)
    first = (home.raw_dir / "landed.parquet").read_bytes(), (home.raw_dir / "landed.meta.json").read_text()
    build_landed_history(home)
    assert ((home.raw_dir / "landed.parquet").read_bytes(), (home.raw_dir / "landed.meta.json").read_text()) == first
    assert sorted(p.name for p in home.raw_dir.iterdir()) == ["landed.meta.json", "landed.parquet",
                                                              "own.meta.json", "own.parquet"]


def test_a_listing_becomes_labelled_when_its_outcome_lands(home):
    history, _ = build_landed_history(home)
    assert "still-listed" not in set(history.frame["listing_id"])
    with connect(home.database).begin() as connection:
        connection.execute(outcomes.insert(), [outcome("still-listed", "sold", CLOCK + DAY, 1.0, 199e6)])
    history, _ = build_landed_history(home)
    assert history.frame.set_index("listing_id").loc["still-listed", "sold_price"] == 199e6
    assert (history.sold, history.still_listed) == (3, 0)


def test_history_command_prints_one_line_and_names_a_missing_market(home, tmp_path_factory):
    result = run_cli("history", home=home.home, AUTOVALUE_MARKET_SOURCE=SOURCE,
                     AUTOVALUE_HISTORY_WITHDRAWAL_HORIZON_DAYS="30")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == [
        f"{home.raw_dir / 'landed.parquet'}: 2 history listings + 4 streamed (2 sold, 1 withdrawn, 1 unsold past "
        "the withdrawal horizon); 1 still listed and 1 already in the history left out"]
    empty = tmp_path_factory.mktemp("empty")
    assert_one_line_error(run_cli("history", home=empty), "'market'", "has no history")


def test_retrain_without_enough_landed_sales_exits_2_naming_both_counts(home):
    result = run_cli("retrain", home=home.home, AUTOVALUE_MARKET_SOURCE=SOURCE, AUTOVALUE_RETRAIN_MIN_OUTCOMES="3",
                     AUTOVALUE_HISTORY_WITHDRAWAL_HORIZON_DAYS="30")
    assert_one_line_error(result, "2 streamed sales have landed", "at least 3", "AUTOVALUE_RETRAIN_MIN_OUTCOMES")
    assert not (home.raw_dir / "landed.parquet").exists()  # nothing written or trained


def test_the_history_needs_no_broker_so_a_restarted_one_loses_none_of_it(home):
    # tansu keeps its log in memory: after a restart only the database remembers the stream.
    result = run_cli("history", home=home.home, AUTOVALUE_MARKET_SOURCE=SOURCE,
                     AUTOVALUE_HISTORY_WITHDRAWAL_HORIZON_DAYS="30", AUTOVALUE_KAFKA_BOOTSTRAP="127.0.0.1:9")
    assert result.returncode == 0, result.stderr
    assert "2 history listings + 4 streamed (2 sold, 1 withdrawn" in result.stdout
    landed = read_source(home.raw_dir, LANDED_SOURCE)
    assert {"sold", "withdrawn", "old-unsold", "replayed-sale"} <= set(landed["listing_id"])
