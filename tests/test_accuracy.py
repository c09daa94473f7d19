"""Live accuracy figures on a hand-made outcomes table in a real SQLite file: each figure is one
that a plausible mistake would get wrong (withdrawn or unjoined listings in the MAPE, coverage
over everything, shares over sales only, a mean for the median, the window ignored)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from autovalue import accuracy
from autovalue.tables import connect, outcomes

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=timezone.utc)


def row(listing_id: str, seconds: float, outcome: str, sold: float | None, predicted: float | None,
        low: float = 90.0, high: float = 120.0, rating: str | None = None, model: str = "Avanza") -> dict:
    error = sold / predicted - 1 if sold is not None and predicted is not None else None
    return {"listing_id": listing_id, "outcome": outcome, "sold_price": sold, "days_on_market": 10.0,
            "outcome_at": T0 + timedelta(seconds=seconds), "valuation_id": 1 if predicted else None,
            "brand": "Toyota" if model == "Avanza" else "Honda", "model": model if predicted else None,
            "model_version": "v1" if predicted else None, "predicted_price": predicted,
            "price_low": low if predicted else None, "price_high": high if predicted else None,
            "asking_price": None, "deal_rating": rating, "realized_error": error,
            "abs_pct_error": abs(error) if error is not None else None,
            "inside_interval": (low <= sold <= high) if error is not None else None, "stored_at": T0}


ROWS = [
    row("a1", 10, "sold", 110.0, 100.0, rating="good"),  # +10%, inside
    row("a2", 20, "sold", 95.0, 100.0, high=110.0, rating="fair"),  # -5%, inside
    row("a3", 70, "sold", 130.0, 100.0, rating="great"),  # +30%, outside
    row("b1", 75, "sold", 80.0, 100.0, rating="overpriced", model="Brio"),  # -20%, outside
    row("w1", 80, "withdrawn", None, 100.0),  # no asking price: rating "none"
    row("w2", 130, "withdrawn", None, 100.0, rating="fair"),
    row("u1", 140, "sold", 500.0, None),  # its valuation is not stored (yet): not judged
    row("old", -3600, "sold", 100.0, 200.0, rating="great"),  # -50%, before the window
]


@pytest.fixture
def frame(tmp_path) -> pd.DataFrame:
    engine = connect(f"sqlite:///{tmp_path / 'accuracy.db'}")
    with engine.begin() as connection:
        connection.execute(outcomes.insert(), ROWS)
    yield accuracy.read_outcomes(engine, since=T0)
    engine.dispose()


def test_summary_over_the_window(frame):
    figures = accuracy.summary(frame)
    assert (figures.outcomes, figures.joined, figures.sold) == (7, 6, 4)
    assert figures.mape == pytest.approx((0.10 + 0.05 + 0.30 + 0.20) / 4)
    assert figures.coverage == pytest.approx(0.5)
    assert figures.rating_shares == pytest.approx(
        {"good": 1 / 6, "fair": 2 / 6, "great": 1 / 6, "overpriced": 1 / 6, "none": 1 / 6})


def test_the_window_is_by_outcome_time(tmp_path, frame):
    engine = connect(f"sqlite:///{tmp_path / 'accuracy.db'}")
    everything = accuracy.read_outcomes(engine)
    engine.dispose()
    assert len(everything) == 8 and accuracy.summary(everything).mape == pytest.approx(1.15 / 5)
    assert "old" not in set(frame["listing_id"])


def test_figures_per_minute(frame):
    buckets = accuracy.over_time(frame)
    assert list(buckets["time"]) == [pd.Timestamp(T0) + pd.Timedelta(minutes=m) for m in range(3)]
    assert list(buckets["outcomes"]) == [2, 3, 2] and list(buckets["sold"]) == [2, 2, 0]
    assert buckets["mape"].iloc[0] == pytest.approx(0.075) and buckets["mape"].iloc[1] == pytest.approx(0.25)
    assert buckets["coverage"].iloc[0] == 1.0 and buckets["coverage"].iloc[1] == 0.0
    assert pd.isna(buckets["mape"].iloc[2]) and pd.isna(buckets["coverage"].iloc[2])


def test_bias_per_car_model(frame):
    bias = accuracy.model_bias(frame, min_outcomes=3)
    assert list(bias["model"]) == ["Avanza", "Brio"]  # most sales first
    avanza, brio = bias.iloc[0], bias.iloc[1]
    assert avanza["sold"] == 3 and avanza["median_ratio"] == pytest.approx(1.10)  # the mean would be 1.1167
    assert avanza["bias"] == pytest.approx(0.10) and avanza["flagged"]
    assert brio["sold"] == 1 and brio["median_ratio"] == pytest.approx(0.80) and not brio["flagged"]  # too few
    assert not accuracy.model_bias(frame)["flagged"].any()  # 50 sales needed by default
    assert not accuracy.model_bias(frame, min_outcomes=3, tolerance=0.15)["flagged"].any()


def sales(model: str, ratios: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"outcome": "sold", "brand": "Toyota", "model": model, "predicted_price": 100e6,
                         "sold_price": 100e6 * ratios})


def test_a_median_off_by_its_sales_noise_is_told_apart_from_a_bias():
    """The simulated market's sale noise (sigma 0.09 in logs): 60 sales of an unbiased model
    whose median lands 3.5% high by chance, against 60 sales 6% high with the same noise."""
    rng = np.random.default_rng(3)
    noise = np.exp(rng.normal(0.0, 0.09, 60))
    lucky = noise / np.median(noise) * 1.035  # the sample median placed at +3.5%
    biased = noise / np.median(noise) * 1.06
    bias = accuracy.model_bias(pd.concat([sales("Avanza", lucky), sales("Rush", biased)]), min_outcomes=50)
    avanza, rush = bias.set_index("model").loc["Avanza"], bias.set_index("model").loc["Rush"]
    assert avanza["median_ratio"] == pytest.approx(1.035) and avanza["flagged"] and not avanza["clearly_biased"]
    assert avanza["low"] < 1.03 < 1.035 < avanza["high"]
    assert rush["flagged"] and rush["clearly_biased"] and rush["low"] > 1.03
    # The same table for the same outcomes: the bootstrap is seeded.
    again = accuracy.model_bias(pd.concat([sales("Avanza", lucky), sales("Rush", biased)]), min_outcomes=50)
    assert again.equals(bias)


def test_no_outcomes(tmp_path):
    engine = connect(f"sqlite:///{tmp_path / 'empty.db'}")
    empty = accuracy.read_outcomes(engine)
    engine.dispose()
    figures = accuracy.summary(empty)
    assert (figures.outcomes, figures.sold, figures.mape, figures.coverage) == (0, 0, None, None)
    assert figures.rating_shares == {}
    assert accuracy.over_time(empty).empty and accuracy.model_bias(empty).empty


def test_accuracy_per_stated_confidence(tmp_path):
    """Each level's interval is calibrated for it: coverage is judged per level, over sales only."""
    levels = {"a1": "high", "a2": "high", "a3": "low", "b1": "medium", "w1": "high"}
    engine = connect(f"sqlite:///{tmp_path / 'confidence.db'}")
    with engine.begin() as connection:
        connection.execute(outcomes.insert(), [{**r, "confidence": levels.get(r["listing_id"])} for r in ROWS])
    frame = accuracy.read_outcomes(engine, since=T0)
    engine.dispose()
    got = accuracy.by_confidence(frame).set_index("confidence")
    assert got.loc["high", "sold"] == 2 and got.loc["high", "coverage"] == pytest.approx(1.0)
    assert got.loc["high", "mape"] == pytest.approx(0.075)
    assert got.loc["low", "coverage"] == 0.0 and got.loc["medium", "sold"] == 1


def test_per_version_next_to_the_replaced_champion_in_shadow(tmp_path):
    """v2 served a3 and b1 after a promotion, with v1 scored in shadow on them; v1's own sales
    have no shadow. The shadow figures are over the same sales as the served model's beside them."""
    served_by = {"a1": "v1", "a2": "v1", "a3": "v2", "b1": "v2", "w1": "v2"}
    shadow_price = {"a3": 120.0, "b1": 80.0, "w1": 100.0}  # v1 would have been 8.3% and 0% off
    rows = []
    for r in ROWS:
        version, shadow = served_by.get(r["listing_id"], r["model_version"]), shadow_price.get(r["listing_id"])
        rows.append({**r, "model_version": version, "shadow_model_version": "v1" if shadow else None,
                     "shadow_price": shadow, "shadow_abs_pct_error":
                     abs(r["sold_price"] / shadow - 1) if shadow and r["sold_price"] else None})
    engine = connect(f"sqlite:///{tmp_path / 'versions.db'}")
    with engine.begin() as connection:
        connection.execute(outcomes.insert(), rows)
    frame = accuracy.read_outcomes(engine, since=T0)
    engine.dispose()
    got = accuracy.by_version(frame).set_index("model_version")
    assert list(got.index) == ["v1", "v2"]  # in the order they served
    assert got.loc["v1", "shadow_sold"] == 0 and pd.isna(got.loc["v1", "shadow_mape"])
    assert got.loc["v2", "sold"] == 2 and got.loc["v2", "mape"] == pytest.approx(0.25)  # +30%, -20%
    assert got.loc["v2", "shadow_version"] == "v1" and got.loc["v2", "shadow_sold"] == 2  # w1 was withdrawn
    assert got.loc["v2", "shadow_mape"] == pytest.approx((10 / 120 + 0.0) / 2)
    assert got.loc["v2", "mape_on_shadowed"] == pytest.approx(0.25)
