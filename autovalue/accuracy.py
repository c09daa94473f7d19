"""Live accuracy from the outcomes table: how the valuations users saw compare with what the
listings then sold for. One home for the figures the dashboard shows and the benchmark reports.

Over the outcomes known in a window (by `outcome_at`):
- sold: sold listings whose valuation is stored (the rest cannot be judged);
- live MAPE: mean |sold / estimate - 1| over them;
- coverage: the share of them whose sold price fell inside the 80% interval;
- deal-rating shares: over every outcome with a valuation, sold or withdrawn ("none": no asking price);
- per car model: median sold / estimate (1.0 = unbiased), how many sales it rests on, and a 95%
  bootstrap interval of that median. A model with at least MIN_MODEL_OUTCOMES sales whose median
  is off by more than BIAS_TOLERANCE is flagged; it is "clearly biased" only when the whole
  interval lies beyond the tolerance. Why both: with 50 sales, the sale's own noise alone (what no
  feature sees) moves a median by ~1.6% (simulated market), so a perfect model has a model or
  two outside ±3% in a typical run; the interval tells that apart from a real bias.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Select, select
from sqlalchemy.engine import Engine

from autovalue.tables import outcomes

MIN_MODEL_OUTCOMES = 50
BIAS_TOLERANCE = 0.03
BOOTSTRAP_DRAWS = 1000
BUCKET = "1min"
NO_RATING = "none"


def outcomes_query(since: datetime | None = None) -> Select:
    statement = select(outcomes)
    return statement if since is None else statement.where(outcomes.c.outcome_at >= since)


def read_outcomes(engine: Engine, since: datetime | None = None) -> pd.DataFrame:
    with engine.connect() as connection:
        return pd.DataFrame(connection.execute(outcomes_query(since)).mappings().all(),
                            columns=[c.name for c in outcomes.columns])


@dataclass(frozen=True)
class Accuracy:
    outcomes: int  # every outcome in the window
    joined: int  # of which with a stored valuation
    sold: int  # sold, with a stored valuation
    mape: float | None
    coverage: float | None  # share of those sales inside the 80% interval
    rating_shares: dict[str, float] = field(default_factory=dict)


def _judged(frame: pd.DataFrame) -> pd.DataFrame:
    """Sold listings with a valuation: the ones an error can be computed for."""
    return frame[(frame["outcome"] == "sold") & frame["predicted_price"].notna() & frame["sold_price"].notna()]


def _coverage(inside: pd.Series) -> float | None:
    known = inside.dropna()
    return float(known.astype(bool).mean()) if len(known) else None


def summary(frame: pd.DataFrame) -> Accuracy:
    joined = frame[frame["predicted_price"].notna()]
    judged = _judged(frame)
    ratings = joined["deal_rating"].fillna(NO_RATING)
    return Accuracy(
        outcomes=len(frame), joined=len(joined), sold=len(judged),
        mape=float(judged["abs_pct_error"].mean()) if len(judged) else None,
        coverage=_coverage(judged["inside_interval"]),
        rating_shares={str(k): float(v) for k, v in ratings.value_counts(normalize=True).items()})


def by_confidence(frame: pd.DataFrame) -> pd.DataFrame:
    """Per confidence level the valuation stated: sales judged, MAPE and interval coverage (each
    level's interval is calibrated to cover 80%)."""
    columns = ["confidence", "sold", "mape", "coverage"]
    judged = _judged(frame)
    if judged.empty or "confidence" not in judged:
        return pd.DataFrame(columns=columns)
    grouped = judged.assign(confidence=judged["confidence"].fillna("unknown")).groupby("confidence")
    out = pd.DataFrame({"sold": grouped.size(), "mape": grouped["abs_pct_error"].mean(),
                        "coverage": grouped["inside_interval"].agg(_coverage)})
    return out.reset_index()[columns]


def by_version(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model version that valued the sales, in the order they first served: sales judged,
    MAPE, coverage, the first and last outcome time, and the champion it replaced scored in
    shadow on the same sales (its version, how many of them it valued, its MAPE on those and the
    served model's MAPE on the same ones). A promotion starts a new row, so the rows read as live
    accuracy before and after each one, next to what the replaced model would have scored."""
    columns = ["model_version", "sold", "mape", "coverage", "first", "last", "shadow_version", "shadow_sold",
               "shadow_mape", "mape_on_shadowed"]
    judged = _judged(frame)
    if judged.empty:
        return pd.DataFrame(columns=columns)
    judged = judged.assign(at=pd.to_datetime(judged["outcome_at"], utc=True, format="mixed"),
                           model_version=judged["model_version"].fillna("unknown"))
    if "shadow_abs_pct_error" not in judged:  # outcomes read from before the shadow columns
        judged = judged.assign(shadow_model_version=None, shadow_abs_pct_error=np.nan)
    grouped = judged.groupby("model_version")
    out = pd.DataFrame({"sold": grouped.size(), "mape": grouped["abs_pct_error"].mean(),
                        "coverage": grouped["inside_interval"].agg(_coverage),
                        "first": grouped["at"].min(), "last": grouped["at"].max()})
    shadowed = judged[judged["shadow_abs_pct_error"].notna()].groupby("model_version")
    out["shadow_version"] = shadowed["shadow_model_version"].agg(lambda v: ", ".join(sorted(set(v))))
    out["shadow_sold"] = shadowed.size()
    out["shadow_mape"] = shadowed["shadow_abs_pct_error"].mean()
    out["mape_on_shadowed"] = shadowed["abs_pct_error"].mean()
    out["shadow_sold"] = out["shadow_sold"].fillna(0).astype(int)
    return out.sort_values("first").reset_index()[columns]


def over_time(frame: pd.DataFrame, bucket: str = BUCKET) -> pd.DataFrame:
    """Per time bucket of `outcome_at`: outcomes, judged sales, MAPE and coverage."""
    columns = ["time", "outcomes", "sold", "mape", "coverage"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame = frame.assign(time=pd.to_datetime(frame["outcome_at"], utc=True, format="mixed").dt.floor(bucket))
    judged = _judged(frame)
    grouped = judged.groupby("time")
    out = pd.DataFrame({"outcomes": frame.groupby("time").size()})
    out["sold"] = grouped.size()
    out["mape"] = grouped["abs_pct_error"].mean()
    out["coverage"] = grouped["inside_interval"].agg(_coverage)
    out["sold"] = out["sold"].fillna(0).astype(int)
    return out.reset_index()[columns]


def median_interval(values: np.ndarray, rng: np.random.Generator, draws: int = BOOTSTRAP_DRAWS,
                    level: float = 0.95) -> tuple[float, float]:
    """A percentile-bootstrap interval of the median of `values`."""
    medians = np.median(rng.choice(values, size=(draws, len(values)), replace=True), axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(medians, [tail, 100 - tail])
    return float(low), float(high)


def model_bias(frame: pd.DataFrame, min_outcomes: int = MIN_MODEL_OUTCOMES,
               tolerance: float = BIAS_TOLERANCE, seed: int = 0) -> pd.DataFrame:
    """Per car model: sales judged, median sold / estimate with its 95% bootstrap interval
    (`low`, `high`), its bias (median - 1), whether it is flagged (median beyond the tolerance)
    and whether it is clearly biased (the whole interval beyond it); most sales first."""
    columns = ["brand", "model", "sold", "median_ratio", "low", "high", "bias", "flagged", "clearly_biased"]
    judged = _judged(frame)
    if judged.empty:
        return pd.DataFrame(columns=columns)
    ratio = (judged["sold_price"] / judged["predicted_price"]).to_numpy(dtype=float)
    rng = np.random.default_rng(seed)  # the same table for the same outcomes
    rows = []
    for (brand, model), positions in judged.reset_index(drop=True).groupby(["brand", "model"]).indices.items():
        values = ratio[positions]
        rows.append((brand, model, len(values), float(np.median(values)), *median_interval(values, rng)))
    out = pd.DataFrame(rows, columns=columns[:6])
    out["bias"] = out["median_ratio"] - 1
    enough = out["sold"] >= min_outcomes
    out["flagged"] = enough & (out["bias"].abs() > tolerance)
    out["clearly_biased"] = enough & ((out["low"] > 1 + tolerance) | (out["high"] < 1 - tolerance))
    return out.sort_values(["sold", "brand", "model"], ascending=[False, True, True], ignore_index=True)[columns]
