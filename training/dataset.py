"""Point-in-time training datasets from Feast (filled in by the Feast issue)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class TrainingData:
    """One row per observation (a sale, or a dated/undated asking price for imported data).

    frame columns: listing_id, model_key, event_timestamp (UTC; NaT when undated), label (price
    in the source's currency), and one column per feature, named as in the feature service.
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


LABEL = "label"
ROW_ID = "row_id"


def service_features(store, service_name: str, dated: bool = True) -> tuple[list[str], list[str], list[str]]:
    """(feature names, the categorical ones, Feast feature refs) of a feature service.

    Undated data has no market at its listing date: only the request-time views apply.
    """
    from feast.types import String

    service = store.get_feature_service(service_name)
    on_demand = {view.name for view in store.list_on_demand_feature_views()}
    names, categorical, refs = [], [], []
    for projection in service.feature_view_projections:
        if not dated and projection.name not in on_demand:
            continue
        for feature in projection.features:
            names.append(feature.name)
            refs.append(f"{projection.name_to_use()}:{feature.name}")
            if feature.dtype == String:
                categorical.append(feature.name)
    return names, categorical, refs


def observations(raw: pd.DataFrame, dated: bool) -> pd.DataFrame:
    """What a model learns from: sales at their sale time; else asking prices at listing time."""
    if dated and raw["sold_price"].notna().any():
        rows = raw[raw["sold_price"].notna() & raw["sold_at"].notna()].copy()
        rows["event_timestamp"] = rows["sold_at"]
        rows[LABEL] = rows["sold_price"]
    else:
        rows = raw[raw["asking_price"].notna()].copy()
        rows[LABEL] = rows["asking_price"]
        if dated:
            rows["event_timestamp"] = rows["listed_at"]
        else:
            # Undated data: ages are taken at the middle of the year after the newest model year.
            reference = pd.Timestamp(year=int(rows["year"].max()) + 1, month=7, day=1, tz="UTC")
            rows["listed_at"] = reference
            rows["event_timestamp"] = reference
    return rows.reset_index(drop=True)


def build_dataset(settings, source: str | None = None, store=None, limit: int | None = None) -> TrainingData:
    """Point-in-time-correct training data for `source` through the feature service."""
    from autovalue.feature_inputs import feature_inputs
    from feature_repo.config import feature_store
    from market.io import read_meta, read_source

    source = source or settings.market_source
    meta = read_meta(settings.raw_dir, source)
    dated = bool(meta.get("has_listing_dates"))
    rows = observations(read_source(settings.raw_dir, source), dated)
    if limit:
        rows = rows.sample(n=min(limit, len(rows)), random_state=0).reset_index(drop=True)
    store = store or feature_store(settings)
    names, categorical, refs = service_features(store, settings.feature_service, dated)

    entity = pd.DataFrame(feature_inputs({c: rows[c] for c in
                                          ["brand", "model", "listed_at", "year", "mileage_km", "fuel",
                                           "transmission", "body_type", "region", "seller_type"]}))
    entity[ROW_ID] = range(len(rows))
    entity["event_timestamp"] = pd.to_datetime(rows["event_timestamp"], utc=True)
    joined = store.get_historical_features(
        entity_df=entity, features=refs,
        # Late corrections created after the event must not be used.
        filter_by_created_timestamp=True,
    ).to_df()
    # Feast returns rows in its own order: put them back by our row id.
    joined = joined.sort_values(ROW_ID).reset_index(drop=True)
    frame = pd.DataFrame({
        "listing_id": rows["listing_id"].to_numpy(),
        "model_key": joined["model_key"].to_numpy(),
        "event_timestamp": joined["event_timestamp"].to_numpy() if dated else pd.NaT,
        LABEL: rows[LABEL].to_numpy(dtype=float),
    })
    for name in names:
        frame[name] = joined[name].to_numpy()
    return TrainingData(frame=frame, features=names, categorical=categorical,
                        feature_service=settings.feature_service, source=source, has_dates=dated,
                        currency=meta.get("currency") or settings.market_currency,
                        noise_floor_mape=meta.get("noise_floor_mape"))


def save_dataset(data: TrainingData, path) -> None:
    import json
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data.frame.to_parquet(path, index=False)
    sidecar = {k: v for k, v in vars(data).items() if k != "frame"}
    path.with_suffix(".json").write_text(json.dumps(sidecar, indent=2, default=str))


def load_dataset(path) -> TrainingData:
    import json
    from pathlib import Path

    path = Path(path)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    return TrainingData(frame=pd.read_parquet(path), **sidecar)
