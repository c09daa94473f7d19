"""What the feature service needs for a listing: its entity keys and its request-time fields.

The trainer builds its entity dataframe with this, the service its online entity rows, and
the scorer its pushes: one function, so their inputs cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone

import pandas as pd

from autovalue.keys import brand_key, model_key
from autovalue.market_attributes import MarketAttribute
from autovalue.schema import ATTRIBUTE_KINDS, CAR_ATTRIBUTES

ENTITY_KEYS = ["model_key", "brand_key", "segment"]
EPOCH = pd.Timestamp(0, tz="UTC")
# The feature service's request fields: the listing date as seconds, then the car's attributes
# (then a market's own attributes, request_fields()).
REQUEST_FIELDS = ["listed_at_epoch", *CAR_ATTRIBUTES]
_CASTS = {"integer": int, "number": float, "text": str}


def request_fields(attributes: Sequence[MarketAttribute] = ()) -> list[str]:
    return REQUEST_FIELDS + [a.name for a in attributes]


def _optional(cast):
    """A market attribute's value: missing (None, NaN, pandas' NA) stays None."""
    def convert(value):
        return None if value is None or pd.isna(value) else cast(value)
    return convert


def _epoch(value) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        # A naive datetime is UTC (the Listing schema's rule), not the machine's local time.
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    moment = pd.Timestamp(value)
    return (moment if moment.tzinfo else moment.tz_localize("UTC")).timestamp()


def feature_inputs(columns: Mapping[str, Sequence], attributes: Sequence[MarketAttribute] = ()) -> dict[str, list]:
    """Canonical listing columns (dict of equal-length lists) -> entity keys + request fields,
    the market's `attributes` included (None where a listing has none)."""
    brands = [str(b) for b in columns["brand"]]
    models = [str(m) for m in columns["model"]]
    listed_at = columns["listed_at"]
    if isinstance(listed_at, pd.Series) and pd.api.types.is_datetime64_any_dtype(listed_at):
        # Whatever the resolution (s, ms, us, ns: pandas 2 keeps the input's) and timezone
        # (naive means UTC, as in the Listing schema): seconds since the epoch.
        moments = listed_at.dt.tz_localize("UTC") if listed_at.dt.tz is None else listed_at
        epochs = ((moments - EPOCH) / pd.Timedelta(seconds=1)).tolist()
    else:
        epochs = [_epoch(v) for v in listed_at]
    out = {
        "model_key": [model_key(b, m) for b, m in zip(brands, models)],
        "brand_key": [brand_key(b) for b in brands],
        "segment": [str(v) for v in columns["body_type"]],
        "listed_at_epoch": epochs,
    }
    for name in CAR_ATTRIBUTES:
        cast = _CASTS[ATTRIBUTE_KINDS[name]]
        # A number may be missing (mileage): None, as the service's listing has it.
        if ATTRIBUTE_KINDS[name] == "number":
            cast = _optional(cast)
        out[name] = [cast(v) for v in columns[name]]
    for attribute in attributes:
        convert = _optional(float if attribute.kind == "number" else str)
        out[attribute.name] = [convert(v) for v in columns[attribute.name]]
    return out
