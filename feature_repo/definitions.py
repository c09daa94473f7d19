"""Feast objects: entities, market feature views, the request-time view and the feature service.

`valuation_v1` is the contract: the trainer asks Feast for it by name, the service reads it
online. A change to the feature set is a new service version, never an edit of this one.
"""

from __future__ import annotations

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource, RequestSource, ValueType
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int64, String

from autovalue.schema import ATTRIBUTE_KINDS, CAR_ATTRIBUTES
from autovalue.settings import Settings
from feature_repo.market_stats import WINDOWS_DAYS

MODEL_PUSH_SOURCE = "model_market_push"
# Rows are stamped every midnight, so the latest one is at most a day old: a short TTL keeps
# the point-in-time join small (it scans every row inside the TTL) and marks a stalled
# pipeline as missing data rather than serving old prices. Whole days only (ibis interval).
STATS_TTL = timedelta(days=2)


def stats_path(settings: Settings, level: str) -> str:
    return str((settings.processed_dir / f"{level}_market.parquet").resolve())


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
listing_request = RequestSource(
    name="listing_request",
    schema=[Field(name="listed_at_epoch", dtype=Float64)]
    + [Field(name=name, dtype=FEAST_TYPES[ATTRIBUTE_KINDS[name]]) for name in CAR_ATTRIBUTES],
)

# Categorical outputs are passed through under their own names (a view may not reuse its inputs').
CATEGORICAL_OUTPUTS = ["car_model", "car_brand", "car_fuel", "car_transmission", "car_body", "car_region", "car_seller"]


@on_demand_feature_view(
    sources=[listing_request],
    schema=[Field(name="age_years", dtype=Float64), Field(name="km_per_year", dtype=Float64),
            Field(name="odometer_km", dtype=Float64)]
    + [Field(name=name, dtype=String) for name in CATEGORICAL_OUTPUTS],
    mode="python",
)
def listing_features(inputs: dict) -> dict:
    """Request-time features, computed by the same code for training rows and live listings.

    Feast rebuilds this function from its source text, without this module's globals:
    everything it uses is imported or defined inside it.
    """
    import math

    from autovalue.keys import brand_key, model_key

    seconds_per_year = 365.25 * 86400
    pass_through = {"car_fuel": "fuel", "car_transmission": "transmission", "car_body": "body_type",
                    "car_region": "region", "car_seller": "seller_type"}
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
    return out


def build_definitions(settings: Settings) -> dict:
    """Every Feast object of the repo, with sources under the settings' data folder."""
    model = Entity(name="car_model_entity", join_keys=["model_key"], value_type=ValueType.STRING,
                   description="normalized 'brand|model'")
    brand = Entity(name="brand_entity", join_keys=["brand_key"], value_type=ValueType.STRING)
    segment = Entity(name="segment_entity", join_keys=["segment"], value_type=ValueType.STRING,
                     description="body type, the fallback for thin markets")

    def source(level: str) -> FileSource:
        return FileSource(name=f"{level}_market_stats", path=stats_path(settings, level),
                          timestamp_field="event_timestamp")

    model_push = PushSource(name=MODEL_PUSH_SOURCE, batch_source=source("model"))
    model_market = FeatureView(name="model_market", entities=[model], ttl=STATS_TTL,
                               schema=_stat_fields("model", full=True), source=model_push)
    brand_market = FeatureView(name="brand_market", entities=[brand], ttl=STATS_TTL,
                               schema=_stat_fields("brand", full=False), source=source("brand"))
    segment_market = FeatureView(name="segment_market", entities=[segment], ttl=STATS_TTL,
                                 schema=_stat_fields("segment", full=False), source=source("segment"))
    service = FeatureService(name=settings.feature_service,
                             features=[model_market, brand_market, segment_market, listing_features])
    return {
        "entities": [model, brand, segment],
        "sources": [model_push],
        "views": [model_market, brand_market, segment_market],
        "on_demand": [listing_features],
        "services": [service],
    }
