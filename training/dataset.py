"""Point-in-time training datasets from Feast."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class TrainingData:
    """One row per observation (a sale, or a dated/undated asking price for imported data).

    frame columns: listing_id, model_key, year (the model year), event_timestamp (UTC; NaT when
    undated), label (price in the source's currency), and one column per feature, named as in
    the feature service.
    """

    frame: pd.DataFrame
    features: list[str]  # ordered, exactly the feature service's features
    categorical: list[str]  # the subset of `features` holding strings
    feature_service: str
    source: str
    has_dates: bool
    currency: str = "IDR"
    noise_floor_mape: float | None = None  # the generator's floor, for simulated data
    extra: dict = field(default_factory=dict)
    # Asking prices at their listing time, with the same features (dated data with sales only):
    # what the deal rating compares an asking price with (training.calibration). Columns as
    # `frame`, the label being the asking price; None when the label is the asking price already.
    asking: pd.DataFrame | None = None
    # The market views' features (the rest are the listing's own, request-time ones).
    market: list[str] = field(default_factory=list)
    # The market's own listing attributes, as declared ({"name", "kind"}; autovalue.market_attributes).
    attributes: list[dict] = field(default_factory=list)


LABEL = "label"
ROW_ID = "row_id"


def observations(raw: pd.DataFrame, dated: bool) -> pd.DataFrame:
    """What a model learns from: sales (else asking prices), each with the market as it was when
    the car was listed. That is the moment the service values a listing at: joined at the sale
    instead, training saw the market up to weeks later than serving ever can, and per car
    model the stream's estimates ran behind by as much as the market moved in between."""
    if dated and raw["sold_price"].notna().any():
        rows = raw[raw["sold_price"].notna() & raw["sold_at"].notna()].copy()
        rows["event_timestamp"] = rows["listed_at"]
        rows[LABEL] = rows["sold_price"]
    else:
        rows = raw[raw["asking_price"].notna()].copy()
        rows[LABEL] = rows["asking_price"]
        if dated:
            rows["event_timestamp"] = rows["listed_at"]
        else:
            # Undated data: ages are taken at the middle of the year after the newest model year,
            # or today if that is still ahead (a file with this year's models): never in the future,
            # where the service would refuse the listing date.
            reference = min(pd.Timestamp(year=int(rows["year"].max()) + 1, month=7, day=1, tz="UTC"),
                            pd.Timestamp.now(tz="UTC").floor("D"))
            rows["listed_at"] = reference
            rows["event_timestamp"] = reference
    return rows.reset_index(drop=True)


def build_dataset(settings, source: str | None = None, store=None, limit: int | None = None,
                  raw: pd.DataFrame | None = None) -> TrainingData:
    """Point-in-time-correct training data for `source` through its feature service; `raw`:
    listings of that market to use instead of its file (a retrain's landed history); `limit`:
    at most that many of its listings, sampled (the benchmark's entity rows)."""
    from autovalue.market_attributes import attributes_of, feature_service_name
    from feature_repo.config import feature_store
    from market.io import read_meta, read_source

    source = source or settings.market_source
    meta = read_meta(settings.raw_dir, source)
    dated = bool(meta.get("has_listing_dates"))
    attributes = attributes_of(meta)
    service_name = feature_service_name(settings.feature_service, source, attributes)
    raw = read_source(settings.raw_dir, source) if raw is None else raw
    if limit:
        raw = _sample_listings(raw, dated, limit)
    store = store or feature_store(settings)
    spec = _service_features(store, service_name, source, dated)
    # Undated data has no market at its listing date: only the request-time views apply.
    names = spec.features if dated else spec.request_features
    categorical = [name for name in spec.categorical if name in names]
    asking = None
    if dated and raw["sold_price"].notna().any():
        frame, asking = _sales_and_asking(spec, raw, names, attributes)
    else:
        frame = feature_rows(spec, observations(raw, dated), names, dated, attributes)
    return TrainingData(frame=frame, features=names, categorical=categorical,
                        feature_service=service_name, source=source, has_dates=dated,
                        currency=meta.get("currency") or settings.market_currency or "IDR",
                        noise_floor_mape=meta.get("noise_floor_mape"), asking=asking,
                        market=[name for name in spec.market_features if name in names],
                        attributes=[a.declared() for a in attributes])


def _sample_listings(raw: pd.DataFrame, dated: bool, limit: int) -> pd.DataFrame:
    """At most `limit` listings of those a dataset joins (sold or priced; priced alone when
    undated): a smaller dataset built exactly as the whole one, `limit` entity rows in its join."""
    used = raw["asking_price"].notna()
    if dated:
        used |= raw["sold_price"].notna() & raw["sold_at"].notna()
    used = raw[used]
    return used.sample(n=min(limit, len(used)), random_state=0).reset_index(drop=True)


class FeatureServiceMissing(LookupError):
    """One line: which market has no feature service yet, and the command that makes it."""


def _service_features(store, service_name: str, source: str, dated: bool):
    from feast.errors import FeatureServiceNotFoundException

    from feature_repo.service_features import ServiceFeatures

    try:
        return ServiceFeatures(store, service_name)
    except FeatureServiceNotFoundException:
        what = "its market statistics and feature service" if dated else "its feature service"
        raise FeatureServiceMissing(f"market source {source!r} has no feature service {service_name} yet: "
                                    f"`autovalue features --source {source}` builds {what}") from None


def _sales_and_asking(spec, raw: pd.DataFrame, names: list[str], attributes=()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sales (observations) and the priced listings, both at their listing time, from one
    point-in-time join: a sale's features are its listing's, so joining the sales apart joined
    most rows twice (the slowest step of a first `autovalue demo`). Rows in raw order, as the
    two joins gave them."""
    sold = (raw["sold_price"].notna() & raw["sold_at"].notna()).to_numpy()
    priced = raw["asking_price"].notna().to_numpy()
    used = sold | priced
    listed = raw if used.all() else raw[used].reset_index(drop=True)
    joined = feature_rows(spec, listed, names, dated=True, attributes=attributes, label="asking_price", event="listed_at")
    sales = joined[sold[used]].reset_index(drop=True)
    sales[LABEL] = listed.loc[sold[used], "sold_price"].to_numpy(dtype=float)
    asking = joined if priced[used].all() else joined[priced[used]].reset_index(drop=True)
    return sales, asking


def feature_rows(spec, rows: pd.DataFrame, names: list[str], dated: bool, attributes=(),
                 label: str = LABEL, event: str = "event_timestamp") -> pd.DataFrame:
    """The feature service's features for observation `rows` (the columns `event` and `label`,
    and the listing columns, the market's `attributes` included), point in time when dated."""
    from autovalue.feature_inputs import ENTITY_KEYS, feature_inputs
    from autovalue.schema import CAR_ATTRIBUTES

    columns = feature_inputs({c: rows[c] for c in ["listed_at", *CAR_ATTRIBUTES, *(a.name for a in attributes)]},
                             attributes)
    entity = pd.DataFrame({k: columns[k] for k in ENTITY_KEYS})
    entity[ROW_ID] = range(len(rows))
    entity["event_timestamp"] = pd.to_datetime(rows[event], utc=True)
    features = spec.historical(entity, columns) if dated else spec.transform(columns)
    del columns  # a Python list per input: hundreds of MB at a million rows, not needed past here
    return pd.DataFrame({
        "listing_id": rows["listing_id"].to_numpy(),
        "model_key": entity["model_key"].to_numpy(),
        "year": rows["year"].to_numpy(dtype="int64"),
        # .array: a UTC column stays datetime64 (to_numpy() boxes every row into a Timestamp).
        "event_timestamp": entity["event_timestamp"].array if dated else pd.NaT,
        LABEL: rows[label].to_numpy(dtype=float),
        **{name: features[name] for name in names},
    })
