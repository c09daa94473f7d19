"""Age of the online market features the service reads, per car model and market level.

Read through the feature service exactly as the service does (ServiceFeatures.read_online),
with event timestamps. Feast does not enforce TTLs online, so age is judged here: daily batch
rows are stamped at midnight (up to a day old is normal between runs), the scorer's pushes
make the busiest models fresher. Older than STALE_AFTER_S means the feature pipeline or the
pushes have stopped.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import streamlit as st

from app.guard import NoData, Unavailable
from autovalue.feature_inputs import feature_inputs
from autovalue.schema import CAR_ATTRIBUTES, Listing, plain
from autovalue.market_attributes import market_attributes, source_feature_service
from autovalue.settings import Settings

STALE_AFTER_S = 2 * 86_400
LEVELS = ("model", "brand", "segment")


@st.cache_resource(show_spinner=False, ttl=300)
def _service_features(settings_json: str):
    from feature_repo.config import feature_store
    from feature_repo.service_features import ServiceFeatures

    settings = Settings.model_validate_json(settings_json)
    return ServiceFeatures(feature_store(settings), source_feature_service(settings))


def _check_store(settings: Settings) -> None:
    registry = settings.data_dir / "feast_registry.db"
    if settings.feast_mode == "embedded" and not settings.feast_registry_url and not registry.exists():
        raise NoData(f"No feature store yet ({registry} does not exist): run `autovalue features`.")


def feature_ages(settings: Settings, cars: pd.DataFrame, at: datetime | None = None) -> pd.DataFrame:
    """`cars`: brand, model, body_type (one row per car model to look up). Returns one row per
    car model and level with the age in seconds of its oldest feature at `at` (default now; a
    market on its own calendar: the stream's date, as the service judges them) and its stamp in epoch s
    (NaN when none online)."""
    _check_store(settings)
    try:
        service = _service_features(settings.model_dump_json(exclude={"data_dir", "raw_dir", "processed_dir",
                                                                       "models_dir"}))
    except Exception as error:  # noqa: BLE001 — Feast raises many kinds; all mean "not readable"
        raise Unavailable(f"the feature store cannot be opened ({type(error).__name__}: {error}).") from error
    now = at or datetime.now(timezone.utc)
    # Only the keys matter to the market views; the other attributes take the Listing's defaults.
    placeholder = {"listed_at": now, "year": now.year - 5, "mileage_km": 0.0}
    columns = {name: [placeholder[name] if name in placeholder else plain(Listing.model_fields[name].default)]
               * len(cars) for name in ["listed_at", *CAR_ATTRIBUTES] if name not in cars}
    columns.update({name: cars[name].tolist() for name in ("brand", "model", "body_type")})
    attributes = market_attributes(settings)  # the market's own: none given, as a listing may leave them out
    columns.update({a.name: [None] * len(cars) for a in attributes})
    try:
        online = service.read_online(feature_inputs(columns, attributes), with_timestamps=True)
    except Exception as error:  # noqa: BLE001
        raise Unavailable(f"the online feature store cannot be read ({type(error).__name__}: {error}).") from error
    rows = []
    for i, (brand, model) in enumerate(zip(cars["brand"], cars["model"])):
        for level in LEVELS:
            stamps = [values[i] for name, values in online.items()
                      if name.startswith(f"{level}_") and name.endswith("__ts")]
            stamps = [_epoch(s) for s in stamps if s is not None]
            stamps = [s for s in stamps if s > 0]
            oldest = min(stamps) if stamps else float("nan")
            rows.append({"car": f"{brand} {model}", "level": level, "age_s": now.timestamp() - oldest,
                         "stamp_s": oldest})
    return pd.DataFrame(rows)


def _epoch(stamp) -> float:
    return stamp.timestamp() if isinstance(stamp, datetime) else float(stamp)
