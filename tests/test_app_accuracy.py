"""The Live accuracy page through Streamlit's AppTest, on a real SQLite file: the figures of a
seeded outcomes table, the per-model bias with the flagged model, and the no-outcomes message."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from streamlit.testing.v1 import AppTest

from autovalue.settings import Settings
from autovalue.tables import connect, outcomes
from tests.app_support import APP_DIR, OUTCOME_FIGURES, dashboard_env, fill_outcomes, set_env

NOTHING = "127.0.0.1:9"  # no broker or service needed by this page


def page() -> AppTest:
    at = AppTest.from_file(str(APP_DIR / "screens" / "accuracy.py"), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def home(tmp_path, monkeypatch) -> Settings:
    settings = Settings(home=tmp_path, service_url=f"http://{NOTHING}", kafka_bootstrap=NOTHING)
    set_env(dashboard_env(settings), monkeypatch)
    return settings


def test_the_page_shows_the_figures_of_the_outcomes(home):
    fill_outcomes(home.database)
    home.raw_dir.mkdir(parents=True)
    (home.raw_dir / "market.meta.json").write_text(json.dumps({"noise_floor_mape": 0.032}))
    at = page()
    assert {m.label: m.value for m in at.metric} == OUTCOME_FIGURES
    assert "Live MAPE = 1.25 × the noise floor (3.20%)" in "\n".join(c.value for c in at.caption)
    assert len(at.get("vega_lite_chart")) == 2  # MAPE and coverage per minute
    bias = at.dataframe[0].value
    assert list(bias["car"]) == ["Toyota Avanza", "Honda Brio", "Daihatsu Xenia"]
    assert list(bias["sales"]) == [120, 60, 10] and list(bias["bias"]) == ["+5.0%", "-1.0%", "-10.0%"]
    # Every Avanza sold at exactly 1.05: its interval is 1.050 - 1.050. Xenia: too few sales to judge.
    assert list(bias["check"]) == ["biased: the whole interval is outside ±3%", "", ""]
    assert bias["95% interval"].iloc[0] == "1.050 – 1.050"
    shares = dict(zip(at.dataframe[1].value["deal rating"], at.dataframe[1].value["share"]))
    assert shares == {"great deal": "4.8%", "good deal": "28.6%", "fair price": "57.1%", "high price": "0.0%",
                      "overpriced": "0.0%", "no asking price": "9.5%"}
    levels = at.dataframe[2].value  # the seeded valuations state no confidence (older rows)
    assert list(levels["confidence"]) == ["unknown"] and list(levels["sales"]) == [190]


def test_the_page_says_when_there_are_no_outcomes_yet(home):
    connect(home.database).dispose()  # the tables exist, empty
    at = page()
    assert not at.metric
    assert "No outcomes in the last hour yet" in "\n".join(i.value for i in at.info)


def test_outcomes_older_than_the_window_are_left_out(home):
    fill_outcomes(home.database)  # all within the last 5 minutes
    engine = connect(home.database)
    with engine.begin() as connection:  # and one withdrawal known 30 minutes ago
        now = datetime.now(timezone.utc)
        connection.execute(outcomes.insert(), [{"listing_id": "old", "outcome": "withdrawn", "days_on_market": 40.0,
                                                "outcome_at": now - timedelta(minutes=30), "stored_at": now}])
    engine.dispose()
    at = page()
    assert {m.label: m.value for m in at.metric}["Outcomes"] == "211"
    at.selectbox(key="window").select("last 15 minutes").run()
    assert not at.exception and {m.label: m.value for m in at.metric}["Outcomes"] == "210"


def test_each_model_versions_live_accuracy_in_the_order_they_served(home):
    fill_outcomes(home.database)  # v2: 190 sales, MAPE 4.0%, within the last 5 minutes
    engine = connect(home.database)
    now = datetime.now(timezone.utc)
    with engine.begin() as connection:  # the champion before the promotion: worse, and earlier
        connection.execute(outcomes.insert(), [
            {"listing_id": f"before-{i}", "outcome": "sold", "sold_price": 110e6, "days_on_market": 9.0,
             "outcome_at": now - timedelta(minutes=20, seconds=i), "valuation_id": 1000 + i, "brand": "Toyota",
             "model": "Avanza", "model_version": "v1", "predicted_price": 100e6, "price_low": 92e6,
             "price_high": 108e6, "realized_error": 0.1, "abs_pct_error": 0.1, "inside_interval": False,
             "stored_at": now} for i in range(30)])
    engine.dispose()
    at = page()
    versions = next(d.value for d in at.dataframe if "outcomes from" in d.value.columns)
    assert list(versions["model"]) == ["v1", "v2"]
    assert list(versions["sales"]) == [30, 190] and list(versions["MAPE"]) == ["10.0%", "4.0%"]
    assert list(versions["inside 80% interval"]) == ["0.0%", "94.7%"]
