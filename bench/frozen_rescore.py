"""The closed-loop benchmark's frozen arm as issue 17 defines it: the first champion on the
market statistics of set-up. The stream is dated on its market's calendar, so in the running
service those statistics pass their 2-day TTL at the listing's moment and are blanked (what a
stopped feed gives: low confidence, no market). Here the arm's stored listings are valued again
after the fact, in-process, through the service's own Valuator and MarketReader on the same
online store (no feed ever pushed to it), with the TTL lifted: the same statistics, never expiring.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
from sqlalchemy import select

from autovalue.model_bundle import ModelBundle
from autovalue.champion_pointer import read_champion
from autovalue.market_attributes import parse_attributes
from autovalue.schema import Listing, listing_model
from autovalue.settings import Settings
from autovalue.tables import as_listed, connect, valuations

BATCH = 500


def frozen_prices(settings: Settings, valuation_ids: list[int]) -> dict[int, float]:
    """valuation id -> the champion's price for that stored listing on the set-up statistics."""
    from bento.market import MarketReader
    from bento.valuator import Valuator
    from feature_repo.config import feature_store

    bundle = ModelBundle.load(settings.models_dir / read_champion(settings.models_dir))
    service = bundle.metadata.get("feature_service") or settings.feature_service
    market = MarketReader(feature_store(settings), service, model_features=bundle.row_features)
    for level in market.levels:
        level.ttl_s = None  # frozen: the set-up statistics stand for every later day
    valuator = Valuator(bundle, market, top_drivers=1)
    rows = _stored_listings(settings, valuation_ids)
    model = listing_model(parse_attributes(bundle.metadata.get("attributes")))
    prices: dict[int, float] = {}
    for start in range(0, len(rows), BATCH):
        chunk = rows.iloc[start:start + BATCH]
        listings = [_listing(row, model) for row in chunk.to_dict("records")]
        for valuation_id, valued in zip(chunk["id"], valuator.valuate(listings)):
            prices[int(valuation_id)] = float(valued.predicted_price)
    return prices


def rescore(settings: Settings, sales: pd.DataFrame) -> pd.DataFrame:
    """`sales` (bench_loop.judged_sales) with the frozen champion's prices and errors."""
    prices = frozen_prices(settings, sales["valuation_id"].astype(int).tolist())
    predicted = sales["valuation_id"].map(prices).astype(float)
    error = sales["sold_price"].astype(float) / predicted - 1
    return sales.assign(predicted_price=predicted, abs_pct_error=np.abs(error))


def _stored_listings(settings: Settings, ids: list[int]) -> pd.DataFrame:
    engine = connect(settings.database)
    try:
        with engine.connect() as connection:
            frames = [pd.DataFrame(connection.execute(select(valuations).where(valuations.c.id.in_(ids[i:i + 5000])))
                                   .mappings().all()) for i in range(0, len(ids), 5000)]
    finally:
        engine.dispose()
    return as_listed(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame())


def _listing(row: dict, model: type[Listing]) -> Listing:
    fields = {name: row[name] for name in model.model_fields if name in row and _given(row[name])}
    listed = pd.Timestamp(fields["listed_at"])
    fields["listed_at"] = (listed.tz_localize("UTC") if listed.tzinfo is None else listed).to_pydatetime()
    return model(**{**fields, "listing_id": str(row["listing_id"])})


def _given(value) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value))
