"""The dashboard against real parts: the Live, Model and Drift pages and navigation through
Streamlit's AppTest on a SQLite database filled through autovalue.tables, a real Feast store and
a real MLflow store; plain messages when the service, the broker or the database is down.
Value a car and Listings: test_app_value.py; the real service and a browser: test_app_browser.py."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from autovalue.settings import Settings
from tests.app_support import (APP_DIR, dashboard_env, fill_database, metrics, new_stack, nothing_at, run, set_env,
                               texts)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    return new_stack(tmp_path_factory.mktemp("app"))


@pytest.fixture
def env(stack, monkeypatch):
    settings = stack[0]
    set_env(dashboard_env(settings), monkeypatch)
    return settings


def test_live_page(env, stack):
    _, _, stored = stack
    at = run("live")
    # Service and broker are down here: one banner says so, and no model is claimed to serve.
    banner = texts(at, "error")
    assert "Valuation service down" in banner and "Kafka broker down" in banner and "Database down" not in banner
    shown = metrics(at)
    assert shown["Model serving"] == "none"
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


def test_live_page_shows_each_scorers_heartbeat(env):
    """The scorers' heartbeat rows (state, partitions, lag, last progress) are on the Live page,
    from the database, so also while the broker is down; a row that stopped moving is 'silent'."""
    from datetime import datetime, timedelta, timezone

    from autovalue.tables import connect, scorer_heartbeats

    now = datetime.now(timezone.utc)
    row = {"consumer_group": env.consumer_group, "host": "h", "fetch_wait_ms": 500, "started_at": now}
    engine = connect(env.database)
    with engine.begin() as connection:
        connection.execute(scorer_heartbeats.insert(), [
            {**row, "scorer_id": "h:1", "pid": 1, "partitions": "0,1", "lag": 1234, "state": "scoring",
             "last_progress_at": now - timedelta(seconds=2), "updated_at": now},
            {**row, "scorer_id": "h:2", "pid": 2, "partitions": "2", "lag": 50, "state": "scoring",
             "last_progress_at": now - timedelta(minutes=10), "updated_at": now - timedelta(minutes=10)},
            {**row, "scorer_id": "h:3", "pid": 3, "partitions": "", "lag": None, "state": "stopped",
             "last_progress_at": now - timedelta(hours=1), "updated_at": now - timedelta(hours=1)}])
    try:
        at = run("live")
        assert "Scorers" in texts(at, "subheader")
        [shown] = [d.value for d in at.dataframe if "Last progress" in d.value.columns]
        by_id = shown.set_index("Scorer")
        assert list(shown.columns) == ["Scorer", "State", "Partitions", "Lag", "Last progress", "Heartbeat"]
        assert by_id.loc["h:1", "State"] == "scoring" and by_id.loc["h:1", "Lag"] == "1,234"
        assert by_id.loc["h:1", "Partitions"] == "0,1" and by_id.loc["h:1", "Last progress"].endswith(" s ago")
        assert by_id.loc["h:2", "State"] == "silent (scoring when last heard)"
        assert by_id.loc["h:2", "Last progress"] == "10.0 min ago"
        assert (by_id.loc["h:3", "State"], by_id.loc["h:3", "Partitions"], by_id.loc["h:3", "Lag"]) == \
            ("stopped", "none", "unknown")
    finally:
        with engine.begin() as connection:
            connection.execute(scorer_heartbeats.delete())
        engine.dispose()


def test_model_page(env):
    """The page shows what the trainer recorded: the champion v2's holdout figures, v2 against v1,
    the gate's decision in percentages, both runs, the champion's own plots."""
    import json
    import re

    meta = json.loads((env.models_dir / "v2" / "metadata.json").read_text())
    first = json.loads((env.models_dir / "v1" / "metadata.json").read_text())
    served, previous = meta["metrics"]["xgboost"], first["metrics"]["xgboost"]
    at = run("model")
    shown = metrics(at)
    assert shown["Holdout MAPE"] == f"{served['mape']:.2%}" and shown["R²"] == f"{served['r2']:.3f}"
    models = at.dataframe[0].value  # metrics down, models across, all in words
    assert list(models.columns)[:2] == ["metric", "XGBoost (served)"]  # the served one first
    assert {"linear regression", "random forest"} <= set(models.columns)
    assert models.set_index("metric").loc["MAPE (mean absolute % error)", "XGBoost (served)"] == f"{served['mape']:.2%}"
    compared = at.dataframe[1].value
    assert list(compared.columns) == ["metric", "v2", "v1", "change"]
    assert "mape" not in set(compared["metric"])
    change = (served["mape"] - previous["mape"]) * 100
    assert compared.set_index("metric").loc["MAPE (mean absolute % error)", "change"] == \
        f"{change:+.2f} points".replace("-", "\u2212")
    captions = texts(at, "caption")
    decision = _run_tags(env, "v2")["champion_decision"]  # "holdout MAPE 0.0812 beats champion v1 (0.0934)"
    candidate, champion = (float(x) for x in re.findall(r"0\.\d+", decision))
    assert f"holdout MAPE {candidate:.2%} beats champion v1 ({champion:.2%})" in captions
    assert f"previous champion scored MAPE {champion:.2%}" in captions  # v1 on v2's holdout, like for like
    runs = at.table[0].value
    assert len(runs) == 2 and set(runs["Promoted"]) == {"yes"}
    assert set(runs["Rows"]) == {f"{meta['rows']:,}", f"{first['rows']:,}"}
    plots = sorted(p.stem.replace("_", " ") for p in (env.models_dir / "v2" / "plots").glob("*.png"))
    assert plots and sorted(image.captions[0] for image in at.get("image")) == plots  # the champion's own


def _run_tags(settings, version: str) -> dict:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=settings.mlflow_uri, registry_uri=settings.mlflow_uri)
    registered = client.get_model_version(settings.mlflow_model_name, version.lstrip("v"))
    return client.get_run(registered.run_id).data.tags

def test_drift_page(env):
    at = run("drift")
    table = at.dataframe[0].value
    assert set(table["Feature"]) == {"year", "mileage", "asking_price", "brand", "fuel", "transmission",
                                     "body_type", "region", "seller_type"}
    # Incoming rows are a sample of the training market: no feature has drifted.
    assert (table["PSI"] < 0.1).all() and "No feature has moved" in texts(at, "success")
    ages = metrics(at)
    assert ages["Car models × levels without online features"] == "0"
    oldest, unit = ages["Oldest market feature"].split()  # daily rows, stamped at midnight: under a day
    assert float(oldest) * {"s": 1, "min": 60, "h": 3600}[unit] <= 86_400 + 600
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


def test_model_page_shows_the_loops_retrains(env):
    """A retrain's run as training.retrain records it: the challenger against the champion of its
    day on the same sales, and the decision (kept here: not clearly better)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=env.mlflow_uri, registry_uri=env.mlflow_uri)
    experiment = client.search_experiments()[0].experiment_id
    run_id = client.create_run(experiment, run_name="retrain").info.run_id
    for name, value in {"challenger_mape": 0.0830, "champion_mape": 0.0831, "compared_sales": 2201}.items():
        client.log_metric(run_id, name, value)
    for name, value in {"retrain": "landed history", "promoted": "false", "compared_with": "v2",
                        "champion_decision": "MAPE +0.01% points better, 95% lower bound -0.08% "
                                             "(not clearly better)"}.items():
        client.set_tag(run_id, name, value)
    client.set_terminated(run_id)
    at = run("model")
    retrains = at.table[0].value
    row = retrains.iloc[0]
    assert (row["Its MAPE"], row["Champion's MAPE"], row["Sales compared"], row["Promoted"]) == \
        ("8.30%", "8.31%", "2,201", "no"), retrains
    assert row["Champion then"] == "v2" and "not clearly better" in row["Why"]
    assert "clearly better" in texts(at, "caption")
