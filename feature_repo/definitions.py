"""Feast objects: entities, market feature views, the request-time view and the feature services.

`valuation_v1` is the contract for the simulated market: the trainer asks Feast for it by name,
the service reads it online. A change to the feature set is a new service version, never an edit
of this one. Every other market recorded in the data folder (`autovalue import`) gets objects of
its own, prefixed with its name: its market views from its own history (dated markets only), its
request schema with the attributes it declared, and a feature service named for both
(autovalue.market_attributes.feature_service_name). One market's statistics never answer for another.
"""

from __future__ import annotations

import types
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource, RequestSource, ValueType
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int64, String

from autovalue.market_attributes import (
    DEFAULT_SOURCE,
    MarketAttribute,
    attributes_of,
    feature_service_name,
    object_prefix,
    read_market_meta,
    sources_in,
)
from autovalue.schema import ATTRIBUTE_KINDS, CAR_ATTRIBUTES
from autovalue.settings import Settings
from feature_repo.market_stats import WINDOWS_DAYS

MODEL_PUSH_SOURCE = "model_market_push"  # the simulated market's; push_source_name(source) in general
MARKET_LEVELS = ("model", "brand", "segment")
# Rows are stamped every midnight, so the latest one is at most a day old: a short TTL marks a
# stalled pipeline as missing data rather than serving old prices (and keeps Feast's own join,
# which scans every row inside the TTL, small). Whole days only (ibis interval).
STATS_TTL = timedelta(days=2)


def stats_path(settings: Settings, level: str, source: str = DEFAULT_SOURCE) -> str:
    folder = settings.processed_dir if source == DEFAULT_SOURCE else settings.processed_dir / source
    return str((folder / f"{level}_market.parquet").resolve())


def push_source_name(source: str, level: str = "model") -> str:
    """The push source of a market's `level` view (the market feed pushes every level)."""
    return f"{object_prefix(source)}{level}_market_push"


def _stat_fields(level: str, full: bool) -> list[Field]:
    names = []
    for window in WINDOWS_DAYS:
        names += [f"{level}_ask_index_{window}d", f"{level}_listings_{window}d", f"{level}_sold_index_{window}d"]
        if full:
            names += [f"{level}_ask_median_{window}d", f"{level}_mileage_median_{window}d",
                      f"{level}_age_median_{window}d", f"{level}_sold_median_{window}d", f"{level}_sales_{window}d"]
    names += [f"{level}_ask_trend", f"{level}_supply_trend"]
    return [Field(name=name, dtype=Float64) for name in names]


# The listing date in seconds, then the car's attributes as the Listing schema declares them.
FEAST_TYPES = {"integer": Int64, "number": Float64, "text": String}
ATTRIBUTE_TYPES = {"number": Float64, "category": String}
# Categorical outputs are passed through under their own names (a view may not reuse its inputs').
CATEGORICAL_OUTPUTS = ["car_model", "car_brand", "car_fuel", "car_transmission", "car_body", "car_region", "car_seller"]


def listing_transformation(inputs: dict) -> dict:
    """Request-time features, computed by the same code for training rows and live listings.
    A market's own attributes (any input not listed below) pass through as `car_<name>`.

    Feast rebuilds this function from its source text, without this module's globals:
    everything it uses is imported or defined inside it.
    """
    import math

    from autovalue.keys import brand_key, model_key

    seconds_per_year = 365.25 * 86400
    pass_through = {"car_fuel": "fuel", "car_transmission": "transmission", "car_body": "body_type",
                    "car_region": "region", "car_seller": "seller_type"}
    core_inputs = {"listed_at_epoch", "brand", "model", "year", "mileage_km", *pass_through.values()}
    ages, per_year = [], []
    for epoch, year, km in zip(inputs["listed_at_epoch"], inputs["year"], inputs["mileage_km"]):
        listed_year = 1970 + epoch / seconds_per_year
        age = max(listed_year - (year + 0.5), 0.1)  # a model year is on sale from its middle
        ages.append(age)
        per_year.append(km / age if km is not None and not math.isnan(km) else None)
    out = {
        "age_years": ages,
        "km_per_year": per_year,
        "odometer_km": list(inputs["mileage_km"]),
        "car_model": [model_key(b, m) for b, m in zip(inputs["brand"], inputs["model"])],
    }
    for output, source in pass_through.items():
        out[output] = [str(v) for v in inputs[source]]
    out["car_brand"] = [brand_key(b) for b in inputs["brand"]]
    for name, values in inputs.items():
        if name not in core_inputs:
            out["car_" + name] = list(values)
    return out


def listing_view(prefix: str, attributes: tuple[MarketAttribute, ...]):
    """The request source and the on-demand view of a market's listings."""
    request = RequestSource(
        name=f"{prefix}listing_request",
        schema=[Field(name="listed_at_epoch", dtype=Float64)]
        + [Field(name=name, dtype=FEAST_TYPES[ATTRIBUTE_KINDS[name]]) for name in CAR_ATTRIBUTES]
        + [Field(name=a.name, dtype=ATTRIBUTE_TYPES[a.kind]) for a in attributes],
    )
    schema = ([Field(name="age_years", dtype=Float64), Field(name="km_per_year", dtype=Float64),
               Field(name="odometer_km", dtype=Float64)]
              + [Field(name=name, dtype=String) for name in CATEGORICAL_OUTPUTS]
              + [Field(name=a.feature, dtype=ATTRIBUTE_TYPES[a.kind]) for a in attributes])
    # A copy of the function per view: Feast's decorator re-homes the function it is given into
    # __main__ (for dill), after which its source can no longer be found for a second view.
    udf = types.FunctionType(listing_transformation.__code__, listing_transformation.__globals__,
                             listing_transformation.__name__)
    view = on_demand_feature_view(name=f"{prefix}listing_features", sources=[request], schema=schema,
                                  mode="python")(udf)
    return request, view


listing_request, listing_features = listing_view("", ())  # the simulated market's


def _market_views(settings: Settings, source: str, entities: dict) -> tuple[list, list]:
    """A dated market's push source and its three market views, over its own statistics."""
    prefix = object_prefix(source)

    def batch(level: str) -> FileSource:
        return FileSource(name=f"{prefix}{level}_market_stats", path=stats_path(settings, level, source),
                          timestamp_field="event_timestamp")

    # Every level has a push source: the stream's listings are dated on its market's calendar, so
    # a level only the batch pipeline wrote would pass its TTL at the listings' moments.
    pushes = {level: PushSource(name=push_source_name(source, level), batch_source=batch(level))
              for level in MARKET_LEVELS}
    views = [FeatureView(name=f"{prefix}{level}_market", entities=[entities[level]], ttl=STATS_TTL,
                         schema=_stat_fields(level, full=level == "model"), source=pushes[level])
             for level in MARKET_LEVELS]
    return list(pushes.values()), views


def build_definitions(settings: Settings) -> dict:
    """Every Feast object of the repo, with sources under the settings' data folder: the
    simulated market's, and each recorded market's (a dated one's market views once its
    statistics are built: `autovalue features --source S`)."""
    entities = {
        "model": Entity(name="car_model_entity", join_keys=["model_key"], value_type=ValueType.STRING,
                        description="normalized 'brand|model'"),
        "brand": Entity(name="brand_entity", join_keys=["brand_key"], value_type=ValueType.STRING),
        "segment": Entity(name="segment_entity", join_keys=["segment"], value_type=ValueType.STRING,
                          description="body type, the fallback for thin markets"),
    }
    objects = {"entities": list(entities.values()), "sources": [], "views": [], "on_demand": [], "services": []}
    for source in dict.fromkeys([DEFAULT_SOURCE, *sources_in(settings.raw_dir)]):
        meta = read_market_meta(settings.raw_dir, source)
        attributes = attributes_of(meta)
        dated = meta.get("has_listing_dates", True)  # the simulated market before it is generated
        with_market = dated and (source == DEFAULT_SOURCE or _stats_built(settings, source))
        if dated and not with_market:
            continue  # a dated market without statistics yet: nothing to serve or train from
        prefix = object_prefix(source)
        if source == DEFAULT_SOURCE and not attributes:
            request, view = listing_request, listing_features
        else:
            request, view = listing_view(prefix, attributes)
        market_sources, market_views = _market_views(settings, source, entities) if with_market else ([], [])
        objects["sources"] += market_sources
        objects["views"] += market_views
        objects["on_demand"].append(view)
        objects["services"].append(FeatureService(
            name=feature_service_name(settings.feature_service, source, attributes),
            features=[*market_views, view]))
    return objects


def _stats_built(settings: Settings, source: str) -> bool:
    from pathlib import Path

    return all(Path(stats_path(settings, level, source)).is_file() for level in ("model", "brand", "segment"))
