"""`autovalue replay` through the real pipeline: a small dated CSV imported with a mapping file,
its features built and a champion trained by the CLI, a real `bentoml serve` and a real scorer on
the test's tansu broker; the replay's listings on the topic in listing-date order, each valued or
dead-lettered exactly once with its own dates, and each sale on the outcomes topic."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date
from itertools import groupby

import pandas as pd
import pytest
from sqlalchemy import select

from consumers.kafka_clients import assign_from_time, partition_reader
from autovalue.parquet import read_parquet
from deploy.processes import ServerProcess, serve_command, settings_environment, stop_process_group
from autovalue.settings import Settings
from autovalue.tables import connect, valuations
from consumers.replay import listing_message, plan
from market.generate import generate_market
from tests.conftest import free_port
from tests.service_support import REPO, service_env
from tests.streaming import isolated, table_ids

pytestmark = pytest.mark.slow

MAPPING = """name: shop
market: Indonesia
currency: IDR
columns:
  listed_at: {from: posted, parse: date, format: '%Y-%m-%d %H:%M:%S'}
  brand: {from: make}
  model: {from: type}
  year: {from: built, parse: int}
  mileage_km: {from: km, parse: number}
  fuel: {from: fuel}
  transmission: {from: gearbox}
  body_type: {from: body}
  region: {from: region}
  seller_type: {from: seller}
  asking_price: {from: price, parse: number}
  sold_at: {from: sold, parse: date, format: '%Y-%m-%d %H:%M:%S'}
  sold_price: {from: sold_for, parse: number}
"""
CSV_COLUMNS = {"listed_at": "posted", "brand": "make", "model": "type", "year": "built", "mileage_km": "km",
               "fuel": "fuel", "transmission": "gearbox", "body_type": "body", "region": "region",
               "seller_type": "seller", "asking_price": "price", "sold_at": "sold", "sold_price": "sold_for"}
REPLAYED = 300


def autovalue(settings: Settings, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "autovalue_cli.main", *args], cwd=REPO, env=settings_environment(settings),
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def dated_csv(settings: Settings) -> str:
    """A past market (the simulator's, 2024) as a marketplace export: its own column names and a
    mapping file that names them."""
    scratch = settings.home / "export"
    generate_market(scratch, 2_500, seed=3, end=date(2024, 6, 30), days=150, progress=False)
    frame = read_parquet(scratch / "market.parquet").drop(columns="listing_id").rename(columns=CSV_COLUMNS)
    for column in ("posted", "sold"):
        frame[column] = frame[column].dt.strftime("%Y-%m-%d %H:%M:%S")
    frame.to_csv(settings.home / "shop.csv", index=False)
    (settings.home / "shop.yaml").write_text(MAPPING)
    return str(settings.home / "shop.csv")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, kafka_bootstrap):
    settings = Settings(home=tmp_path_factory.mktemp("replay"), kafka_bootstrap=kafka_bootstrap, market_source="shop")
    autovalue(settings, "import", dated_csv(settings), "--mapping", str(settings.home / "shop.yaml"))
    autovalue(settings, "features", "--source", "shop", "--quiet")
    autovalue(settings, "train", "--source", "shop", "--quiet")
    # A column beyond the listing schema (a market-declared attribute): replayed, ignored by the scorer.
    raw = read_parquet(settings.raw_dir / "shop.parquet")
    raw["engine_cc"] = [1500.0 if i % 3 else float("nan") for i in range(len(raw))]
    raw.to_parquet(settings.raw_dir / "shop.parquet", index=False)
    port = free_port()
    server = ServerProcess(serve_command(port), service_env(settings, AUTOVALUE_MARKET_SOURCE="shop"), port,
                           settings.home / "service.log").start()
    yield settings.model_copy(update={"service_url": server.url, "service_port": port}), raw
    server.stop()


def stored_dates(settings: Settings) -> dict[str, pd.Timestamp]:
    engine = connect(settings.database)
    with engine.connect() as connection:
        rows = connection.execute(select(valuations.c.listing_id, valuations.c.listed_at)).all()
    engine.dispose()
    return {listing_id: pd.Timestamp(listed_at).tz_localize("UTC") if pd.Timestamp(listed_at).tzinfo is None
            else pd.Timestamp(listed_at) for listing_id, listed_at in rows}


def read_records(settings: Settings, topic: str, expect: int, timeout_s: float = 60) -> list:
    consumer = partition_reader(settings, fetch_max_wait_ms=50)
    assign_from_time(consumer, topic, None)
    records, deadline = [], time.monotonic() + timeout_s
    while len(records) < expect and time.monotonic() < deadline:
        records += [r for batch in consumer.poll(timeout_ms=200).values() for r in batch]
    records += [r for batch in consumer.poll(timeout_ms=500).values() for r in batch]  # anything beyond
    consumer.close()
    return records


def test_a_replayed_market_is_valued_once_per_listing_in_listing_date_order(pipeline, monkeypatch):
    settings, raw = pipeline
    settings = isolated(settings)
    since = pd.Timestamp(raw["listed_at"].quantile(0.8)).floor("D")  # the newest stretch, as a holdout would be
    expected = plan(raw, since=since.to_pydatetime(), limit=REPLAYED).listings
    scorer = subprocess.Popen([sys.executable, "-m", "autovalue_cli.main", "score"], cwd=REPO,
                              env=settings_environment(settings), stdout=open(settings.home / "scorer.log", "ab"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # 30 simulated days per real second: the stretch and its sales in a few seconds.
        summary = autovalue(settings, "replay", "shop", "--from", str(since.date()), "--limit", str(REPLAYED),
                            "--speedup", str(30 * 86_400), "--quiet")
        deadline = time.monotonic() + 180
        while sum(map(len, table_ids(settings))) < REPLAYED and time.monotonic() < deadline:
            time.sleep(0.3)
        valued, dead = table_ids(settings)
    finally:
        stop_process_group(scorer)

    assert f"sent {REPLAYED:,} listings" in summary, summary
    ids = list(expected["listing_id"])
    assert valued and len(valued) == len(set(valued)) and not set(valued) & {d["listing_id"] for d in dead}
    assert sorted(valued + [d["listing_id"] for d in dead]) == sorted(ids), (len(valued), dead[:3])

    records = read_records(settings, settings.topic_listings, REPLAYED)
    messages = [json.loads(r.value) for r in records]
    assert sorted(m["listing_id"] for m in messages) == sorted(ids)  # each once
    by_id = {row["listing_id"]: listing_message(row) for row in expected.to_dict("records")}
    assert all(m == by_id[m["listing_id"]] for m in messages)  # own dates, extra column, nothing missing as NaN
    assert any("engine_cc" in m for m in messages) and not any("sold_price" in m for m in messages)
    for partition in {r.partition for r in records}:
        dates = [m["listed_at"] for r, m in zip(records, messages) if r.partition == partition]
        assert dates == sorted(dates), f"partition {partition} is out of listing-date order"
    # Across partitions: a listing produced later is never listed earlier.
    produced = sorted(zip((r.timestamp for r in records), (pd.Timestamp(m["listed_at"]) for m in messages)))
    listed_before = None
    for _, same_time in groupby(produced, key=lambda pair: pair[0]):
        dates = [listed for _, listed in same_time]
        assert listed_before is None or listed_before <= min(dates)
        listed_before = max([*dates, *([listed_before] if listed_before else [])])
    stored = stored_dates(settings)
    assert all(stored[i] == pd.Timestamp(expected_date) for i, expected_date in zip(ids, expected["listed_at"])
               if i in stored)  # valued at the file's own date, not the replay's

    sold = expected[expected["sold_price"].notna()]
    outcomes = [json.loads(r.value) for r in read_records(settings, settings.topic_outcomes, len(sold))]
    assert sorted(o["listing_id"] for o in outcomes) == sorted(sold["listing_id"])
    assert f"and {len(sold):,} outcomes" in summary

    # The dashboard shows what the replay left: its Listings page reads the same table.
    from tests.app_support import dashboard_env, run, set_env

    set_env(dashboard_env(settings, AUTOVALUE_MARKET_SOURCE="shop"), monkeypatch)
    shown = run("listings").dataframe[0].value
    assert len(shown) == len(valued) and shown["Estimate"].str.startswith("Rp").all()
