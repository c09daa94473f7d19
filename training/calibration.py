"""Calibration on held-out rows: an interval per confidence level, and the deal-rating bands.

Confidence levels (autovalue.confidence) are rare in held-out data as it comes: every car there
was seen in training and has fresh market statistics. So each level is calibrated on the same
held-out rows made to look like it: medium without the model's market statistics (what a
listing leaning on its brand sees), low also without the brand's and with the car model and
brand unseen (what an unfamiliar car sees). Split-conformal offsets of those residuals give each
level an interval that covers what it says.

Deal bands compare an asking price with the asking prices of similar cars: the 10th, 30th, 70th
and 90th percentiles of log(asking / estimate) over held-out listings at their listing time
(TrainingData.asking). A fair listing is asked about the market's usual premium over what such
cars sell for; great and overpriced are the cheapest and dearest tenth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from autovalue.model_bundle import ModelBundle
from autovalue.valuation import Confidence
from training.conformal import interval_offsets

DEAL_QUANTILES = (0.1, 0.3, 0.7, 0.9)
MIN_ROWS = 10
KM_PER_YEAR_RANGE = (0.005, 0.995)  # outside: "mileage unusual for its age"


def known_cars(frame: pd.DataFrame) -> dict:
    """What the model was trained on, for judging confidence: model years per car model, brands,
    and the usual range of km per year."""
    years = frame.groupby("model_key")["year"].agg(["min", "max"])
    out = {"model_years": {key: [int(row["min"]), int(row["max"])] for key, row in years.iterrows()},
           "brands": sorted({key.split("|", 1)[0] for key in years.index})}
    if "km_per_year" in frame.columns and frame["km_per_year"].notna().any():
        low, high = frame["km_per_year"].astype(float).quantile(list(KM_PER_YEAR_RANGE))
        out["km_per_year"] = [float(low), float(high)]
    return out


def as_level(frame: pd.DataFrame, level: Confidence, features: list[str]) -> pd.DataFrame:
    """Rows made to look like `level`: market statistics removed, car model and brand unseen."""
    if level is Confidence.high:
        return frame
    prefixes = ("model_",) if level is Confidence.medium else ("model_", "brand_")
    out = frame.copy()
    for name in features:
        if name.startswith(prefixes):
            out[name] = np.nan
    if level is Confidence.low:
        for name in ("car_model", "car_brand"):
            if name in out.columns:
                out[name] = None
    return out


def with_unfamiliar_rows(rows: pd.DataFrame, y_log: np.ndarray, features: list[str], fraction: float,
                         seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """`rows` plus a seeded `fraction` of them again as medium and as low (as_level): in the data
    as it comes every car has its own market statistics, so without these rows the trees never
    learn what to do without them, and an unfamiliar car's estimate would be far off."""
    if fraction <= 0 or not len(rows):
        return rows, y_log
    rng = np.random.default_rng(seed)
    parts, labels = [rows], [y_log]
    for level in (Confidence.medium, Confidence.low):
        pick = np.sort(rng.choice(len(rows), size=max(1, round(len(rows) * fraction)), replace=False))
        parts.append(as_level(rows.iloc[pick], level, features))
        labels.append(y_log[pick])
    return pd.concat(parts, ignore_index=True), np.concatenate(labels)


def calibrate(bundle: ModelBundle, rows: pd.DataFrame, y_log: np.ndarray, asking: pd.DataFrame | None,
              coverage: float) -> dict:
    """Metadata for `bundle`: interval_by_confidence and deal_bands_by_confidence. `rows` and
    `y_log` are the calibration period's observations; `asking` its asking-price rows (None when
    the label is the asking price: then the rows themselves)."""
    features = bundle.features
    if asking is None:
        asking, ask_log = rows, y_log
    else:
        ask_log = np.log(asking["label"].to_numpy(dtype=float))
    intervals, bands = {}, {}
    for level in Confidence:
        predicted = bundle.predict_log(bundle.encode(as_level(rows, level, features)))
        intervals[level.value] = interval_offsets(y_log, predicted, coverage)
        if level is Confidence.low or len(asking) < MIN_ROWS:
            bands[level.value] = None  # no deal rating without enough knowledge
            continue
        predicted_ask = bundle.predict_log(bundle.encode(as_level(asking, level, features)))
        bands[level.value] = [float(q) for q in np.quantile(ask_log - predicted_ask, DEAL_QUANTILES)]
    return {"interval_by_confidence": intervals, "deal_bands_by_confidence": bands,
            "deal_bands": {"offsets": bands[Confidence.high.value], "quantiles": list(DEAL_QUANTILES),
                           "calibration_rows": int(len(asking)),
                           "method": "percentiles of log(asking / estimate) on held-out listings"}
            if bands[Confidence.high.value] else None}


def deal_shares(bundle: ModelBundle, asking: pd.DataFrame) -> dict[str, float]:
    """Shares of each deal rating over `asking` rows (the holdout's), rated as the service rates."""
    from autovalue.valuation import DealRating, deal_rating

    offsets = bundle.deal_bands(Confidence.high.value)
    if offsets is None or not len(asking):
        return {}
    predicted = np.exp(bundle.predict_log(bundle.encode(asking)))
    ratings = [deal_rating(a, p, offsets) for a, p in zip(asking["label"].to_numpy(dtype=float), predicted)]
    counts = pd.Series([r.value for r in ratings]).value_counts(normalize=True)
    return {f"deal_share_{r.value}": float(counts.get(r.value, 0.0)) for r in DealRating}


def asking_rows(data, frame: pd.DataFrame, parts, period: str) -> pd.DataFrame | None:
    """The asking-price rows of a period of the split ("calibration" or "holdout"): by listing
    time for a time split, by listing for a random one. For calibration, None when the label is
    the asking price already (the calibration rows are then their own asking rows)."""
    positions = getattr(parts, period)
    rows = frame.iloc[positions]
    if data.asking is None:
        return None if period == "calibration" else rows
    if parts.kind != "time":
        return data.asking[data.asking["listing_id"].isin(set(rows["listing_id"])).to_numpy()]
    times = pd.to_datetime(data.asking["event_timestamp"], utc=True)
    keep = times >= pd.to_datetime(rows["event_timestamp"], utc=True).min()
    if period == "calibration":  # up to where the holdout begins
        keep &= times < pd.to_datetime(frame.iloc[parts.holdout]["event_timestamp"], utc=True).min()
    return data.asking[keep.to_numpy()]
