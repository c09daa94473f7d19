"""The market margin of a model trained on market features (autovalue.market_margin): its
spec from the training rows, and the margins XGBoost is fitted with."""

from __future__ import annotations

import numpy as np
import pandas as pd

from autovalue.market_margin import MarketMargin
from feature_repo.market_stats import AGE_ADJUST, LEVELS, MILEAGE_ADJUST

# The finest level first; per level the shortest window first (least lag behind a moving
# market), the 7-day one of a car model only with enough listings to be more than noise.
LEVEL_WINDOWS = {"model": ((7, 10), (30, 0), (90, 0)), "brand": ((30, 0), (90, 0)), "segment": ((30, 0), (90, 0))}
AGE_FEATURE, MILEAGE_FEATURE = "age_years", "odometer_km"
SOURCE_FEATURE = "market_source"  # a model input computed from the others (MarketMargin.fill_source)


def margin_spec(features: list[str], frame: pd.DataFrame) -> dict | None:
    """None when the features hold no market price index (undated data, or another service)."""
    levels = [{"index": f"{level}_ask_index_{window}d", "count": f"{level}_listings_{window}d" if minimum else None,
               "min_count": minimum}
              for level in LEVELS for window, minimum in LEVEL_WINDOWS[level]]
    levels = [level for level in levels if level["index"] in features
              and (level["count"] is None or level["count"] in features)]
    if not levels or AGE_FEATURE not in features or MILEAGE_FEATURE not in features:
        return None
    first = frame[[level["index"] for level in levels]].bfill(axis=1).iloc[:, 0].astype(float)
    default = float(first.median()) if first.notna().any() else 0.0
    spec = {"levels": levels, "age_feature": AGE_FEATURE, "mileage_feature": MILEAGE_FEATURE,
            "age_adjust": AGE_ADJUST, "mileage_adjust": MILEAGE_ADJUST, "default_level": default,
            "source_feature": SOURCE_FEATURE,
            "center": {"level": 0.0, "age": 0.0, "km": 0.0}}
    level, _, age, km = _margin(spec).parts(_matrix(spec, frame))
    spec["center"] = {"level": float(level.mean()), "age": float(age.mean()), "km": float(km.mean())}
    return spec


def margins(spec: dict | None, frame: pd.DataFrame) -> np.ndarray | None:
    return None if spec is None else _margin(spec)(_matrix(spec, frame))


def model_inputs(spec: dict | None, features: list[str], frame: pd.DataFrame) -> tuple[list[str], pd.DataFrame]:
    """The model's features and `frame` with the market source added (when there is a margin)."""
    if spec is None:
        return features, frame
    matrix = np.column_stack([_matrix(spec, frame), np.full(len(frame), np.nan)])
    margin = MarketMargin(spec, [*_columns(spec), SOURCE_FEATURE])
    margin.fill_source(matrix)
    return [*features, SOURCE_FEATURE], frame.assign(**{SOURCE_FEATURE: matrix[:, -1]})


def _columns(spec: dict) -> list[str]:
    names = [name for level in spec["levels"] for name in (level["index"], level["count"]) if name]
    return list(dict.fromkeys([*names, spec["age_feature"], spec["mileage_feature"]]))


def _margin(spec: dict) -> MarketMargin:
    return MarketMargin(spec, _columns(spec))


def _matrix(spec: dict, frame: pd.DataFrame) -> np.ndarray:
    return np.column_stack([pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64)
                            for c in _columns(spec)])
