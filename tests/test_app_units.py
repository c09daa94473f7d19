"""The dashboard's building blocks: money format, PSI, the service's refusal messages, the deal
feed, the dashboard command, consumer lag read from a real broker, and throughput from the
valuations stored per minute (SQLite and PostgreSQL)."""

from __future__ import annotations

import httpx
import pytest
import numpy as np
import pandas as pd
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from app import display, drift
from app.consumer_lag import consumer_lag
from app.live_metrics import deal_feed
from app.service_api import rejection_message, request_body
from autovalue_cli.app_commands import dashboard_argv
from consumers.kafka_clients import json_producer
from tests.streaming import isolated


def test_money_in_rupiah_juta_and_other_currencies():
    assert display.money(185_400_000, "IDR") == "Rp 185.4 jt"
    assert display.money(1_250_000_000, "IDR") == "Rp 1,250.0 jt"
    assert display.signed_money(-8_200_000, "IDR") == "−Rp 8.2 jt"
    assert display.money(23_456.7, "USD") == "USD 23,457"
    assert display.money(None, "IDR") == "–" and display.money(float("nan"), "IDR") == "–"


def test_psi_is_zero_for_the_same_population_and_warns_on_a_shift():
    rng = np.random.default_rng(0)
    training = pd.Series(rng.normal(60_000, 20_000, 20_000))
    assert drift.numeric_psi(training, pd.Series(rng.normal(60_000, 20_000, 2_000))) < drift.WATCH
    assert drift.state(drift.numeric_psi(training, pd.Series(rng.normal(90_000, 20_000, 2_000)))) == "warn"
    fuels = pd.Series(["petrol"] * 900 + ["diesel"] * 100)
    assert drift.categorical_psi(fuels, fuels.sample(frac=1, random_state=1)) < 1e-9
    # A category the training data never saw counts as drift, and stays finite.
    shifted = drift.categorical_psi(fuels, pd.Series(["electric"] * 500 + ["petrol"] * 500))
    assert np.isfinite(shifted) and drift.state(shifted) == "warn"
    assert drift.state(0.1) == "watch" and drift.state(0.099) == "stable" and drift.state(float("nan")) == "no data"


def test_a_refused_listing_names_its_fields():
    response = httpx.Response(422, json={"error": "invalid input", "message": "listing.year: too new",
                                         "fields": [{"field": "listing.year", "message": "too new"},
                                                    {"field": "listing.mileage_km", "message": "must be >= 0"}]})
    assert rejection_message(response) == "year: too new; mileage_km: must be >= 0"
    assert rejection_message(httpx.Response(422, json={"message": "bad listing"})) == "bad listing"
    assert rejection_message(httpx.Response(400, text="not json")) == "not json"
    assert request_body({"brand": "Toyota"}) == {"listing": {"brand": "Toyota"}}


def test_deal_feed_puts_the_most_underpriced_share_first():
    frame = pd.DataFrame({"listing_id": ["a", "b", "c", "d"], "asking_price": [90.0, 50.0, 120.0, None],
                          "predicted_price": [100.0, 100.0, 100.0, 100.0]})
    assert deal_feed(frame)["listing_id"].tolist() == ["b", "a"]


def test_dashboard_command_runs_streamlit_headless_without_telemetry():
    """What matters of the command, not its spelling: the page the app starts from exists, it binds
    where it is told, never opens a browser, sends no usage statistics and shows users no traceback."""
    from pathlib import Path

    argv = dashboard_argv("10.1.2.3", 8599)
    script = next(arg for arg in argv if arg.endswith(".py"))
    assert Path(script).is_file() and "st.navigation" in Path(script).read_text()
    options = dict(zip(argv[argv.index(script) + 1::2], argv[argv.index(script) + 2::2]))
    assert (options["--server.address"], options["--server.port"]) == ("10.1.2.3", "8599")
    assert options["--server.headless"] == "true" and options["--browser.gatherUsageStats"] == "false"
    assert options["--client.showErrorDetails"] in ("none", "type")


def test_consumer_lag_from_a_real_broker(settings):
    settings = isolated(settings)
    producer = json_producer(settings)
    for i in range(12):  # 4 records on each of the 3 partitions: the lag figures are exact
        producer.send(settings.topic_listings, value={"listing_id": str(i)}, partition=i % settings.topic_partitions)
    producer.flush()
    producer.close()
    partitions = [TopicPartition(settings.topic_listings, p) for p in range(settings.topic_partitions)]
    # Commit the first 2 records of partition 0 for the scorer's group, as the scorer would.
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=settings.consumer_group,
                             enable_auto_commit=False)
    consumer.assign(partitions)
    consumer.commit({partitions[0]: OffsetAndMetadata(2, "", -1)})
    consumer.close()
    lag = consumer_lag(settings).set_index("partition")
    assert lag["end"].sum() == 12
    assert lag.loc[0, "committed"] == 2 and lag["lag"].sum() == 10


def test_value_waterfall_runs_from_the_base_through_the_drivers_to_the_estimate():
    from app.charts import value_waterfall
    from autovalue.valuation import ValueDriver

    drivers = [ValueDriver(feature="age", label="age -Rp 20.0 jt", amount=-20e6),
               ValueDriver(feature="make and model", label="make and model +Rp 35.0 jt", amount=35e6)]
    chart = value_waterfall(180e6, drivers, "IDR")
    steps = pd.DataFrame(chart.to_dict()["datasets"][next(iter(chart.to_dict()["datasets"]))])
    # Steps are the driver groups; the amount is the bar's text, formatted once.
    assert steps["step"].tolist() == ["base value", "age", "make and model", "estimate"]
    assert steps["end"].tolist() == [165.0, 145.0, 180.0, 180.0]  # Rp juta
    assert steps["text"].tolist() == ["Rp 165.0 jt", "−Rp 20.0 jt", "+Rp 35.0 jt", "Rp 180.0 jt"]


def minutes_of(stamps: list[pd.Timestamp]) -> pd.DataFrame:
    """What database.minute_counts returns for these stored times."""
    frame = pd.DataFrame({"t": stamps})
    frame["minute"] = frame["t"].dt.floor("1min")
    return frame.groupby("minute")["t"].agg(count="size", first="min", last="max").reset_index()


def test_throughput_counts_from_the_streams_start_after_its_last_pause():
    from app.live_metrics import throughput

    now = pd.Timestamp("2026-01-01 12:00:00", tz="UTC")
    # An old stream (10/s for a minute), a 5-minute pause, then 20/s for the last 30 s.
    old = [now - pd.Timedelta(minutes=8) + pd.Timedelta(seconds=i / 10) for i in range(600)]
    new = [now - pd.Timedelta(seconds=30) + pd.Timedelta(seconds=i / 20) for i in range(600)]
    stored = pd.Series(old + new)
    rates = throughput(minutes_of(old + new), stored, now, looked_back_h=6)
    assert rates.started == new[0] and rates.count == 600
    assert rates.since_start == pytest.approx(20, rel=0.01)
    assert rates.last_minute == pytest.approx(20, rel=0.01)  # over the 30 s it ran, not 60
    nothing = pd.DataFrame(columns=["minute", "count", "first", "last"])
    assert throughput(nothing, pd.Series([], dtype="datetime64[ns, UTC]"), now, 6).started is None


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """SQLite, and a fresh database on the local PostgreSQL (the one tests/test_outcomes.py uses)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'v.db'}"
        return
    import uuid

    import psycopg

    admin, name = "postgresql://postgres@127.0.0.1:5432/postgres", f"app_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as connection:
            connection.execute(f"CREATE DATABASE {name}")
    except psycopg.OperationalError as error:
        pytest.skip(f"no PostgreSQL at 127.0.0.1:5432 ({error})")
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_minute_counts_on_sqlite_and_postgresql(database_url):
    from datetime import datetime, timedelta, timezone

    from app.database import minute_counts
    from autovalue.tables import connect, valuations

    engine = connect(database_url)
    start = datetime.now(timezone.utc).replace(second=30, microsecond=0) - timedelta(minutes=3)
    rows = [{"listing_id": f"l{i}", "listed_at": start, "brand": "Toyota", "model": "Avanza", "year": 2020,
             "mileage": 1.0, "predicted_price": 1e8, "model_version": "v1",
             "created_at": start + timedelta(seconds=20 * i)} for i in range(6)]
    with engine.begin() as connection:
        connection.execute(valuations.insert(), rows)
    counts = minute_counts(engine, hours=1)
    engine.dispose()
    assert counts["count"].tolist() == [2, 3, 1]  # :30 :50 | :10 :30 :50 | :10
    assert counts["first"].iloc[0] == pd.Timestamp(start)
    assert counts["last"].iloc[-1] == pd.Timestamp(rows[-1]["created_at"])


def test_the_market_clock_is_the_newest_listing_date_valued(database_url):
    """The Value page values as of this date when a market runs on its own calendar."""
    from datetime import datetime, timedelta, timezone

    from app.database import behind_market_clock, market_clock
    from autovalue.tables import connect, valuations

    engine = connect(database_url)
    assert market_clock(engine) is None and behind_market_clock(engine) is None
    then = datetime(2025, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=7)))  # 02:30 UTC
    rows = [{"listing_id": f"l{i}", "listed_at": then - timedelta(days=i), "brand": "Toyota", "model": "Avanza",
             "year": 2020, "mileage": 1.0, "predicted_price": 1e8, "model_version": "v1",
             "created_at": datetime.now(timezone.utc)} for i in range(3)]
    with engine.begin() as connection:
        connection.execute(valuations.insert(), rows)
    clock = market_clock(engine)
    behind = behind_market_clock(engine)  # more than a day behind the wall clock: the page follows it
    with engine.begin() as connection:
        connection.execute(valuations.insert(), [{**rows[0], "listing_id": "live", "listed_at": datetime.now(timezone.utc)}])
    live = behind_market_clock(engine)  # a live market: the wall clock
    engine.dispose()
    assert clock == then and clock.utcoffset() == timedelta(0)
    assert behind == then and live is None


def test_model_metrics_in_words():
    from app import model_metrics

    assert model_metrics.text("mape_over_noise_floor", 1.1407, "IDR") == "1.14 × the noise floor"
    assert model_metrics.text("mape", 0.0769, "IDR") == "7.69%"
    assert model_metrics.text("mae", 14.1e6, "IDR") == "Rp 14.1 jt"
    assert model_metrics.change("interval_coverage", -0.012, "IDR") == "−1.20 points"
    # The trainer's tags: no contradiction with the champion they describe.
    assert model_metrics.decision("no champion yet") == "promoted as the first champion (there was none before it)"
    assert model_metrics.decision("holdout MAPE 0.0769 beats champion v3 (0.0822)") == \
        "holdout MAPE 7.69% beats champion v3 (8.22%)"
