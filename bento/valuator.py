"""Listings in, valuations out: one Feast read, one model call and one contribution call per
batch, whatever the batch size (a single listing is a batch of one)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from autovalue.confidence import ConfidenceJudge
from autovalue.feature_inputs import feature_inputs
from autovalue.market_attributes import parse_attributes
from autovalue.model_bundle import ModelBundle
from autovalue.schema import Listing, attribute_columns
from autovalue.valuation import VALUATION_LIST, Confidence, Valuation, deal_rating
from bento.drivers import DriverGrouping
from bento.explanation import Explainer
from bento.market import MarketRead, MarketReader


class FeatureStoreUnavailable(RuntimeError):
    """The online store could not be read: not the listing's fault, the caller should retry."""


class Valuator:
    def __init__(self, bundle: ModelBundle, market: MarketReader, top_drivers: int,
                 batch_threads: int = 1, threads_from_rows: int = 64, stale_after_s: float = 30 * 3600):
        self.bundle = bundle
        self.explainer = Explainer(bundle)
        self.batch_explainer = self.explainer.with_threads(batch_threads) if batch_threads > 1 else self.explainer
        self.threads_from_rows = threads_from_rows
        self.market = market
        self.top_drivers = top_drivers
        self.currency = bundle.metadata.get("currency", "IDR")
        self.attributes = parse_attributes(bundle.metadata.get("attributes"))  # the market's own
        self.feature_service = market.service.name
        self.drivers = DriverGrouping(bundle.features)
        # Contributions come summed per driver group from the lookup itself (one table for both bundles).
        self.grouped = self.explainer.grouped(self.drivers.membership)
        self.judge = ConfidenceJudge(bundle.metadata, stale_after_s)
        # No deal rating at low confidence: the estimate itself is in doubt.
        self.bands = {level: None if level is Confidence.low else bundle.deal_bands(level.value)
                      for level in Confidence}

    def reads_like(self, other: "Valuator") -> bool:
        """Whether `other`'s feature read serves this model as is (same feature service, same
        features read): a shadow then values the served model's read, not a second one."""
        return (self.feature_service == other.feature_service and self.attributes == other.attributes
                and self.bundle.row_features == other.bundle.row_features)

    def read(self, listings: Sequence[Listing]) -> tuple[dict, MarketRead]:
        """The listings' entity rows and their market statistics, from the online store."""
        entity_rows = feature_inputs(attribute_columns(listings, self.attributes), self.attributes)
        try:
            return entity_rows, self.market.read(entity_rows)
        except Exception as error:  # sqlite, redis, registry: whatever the online store raises
            raise FeatureStoreUnavailable(f"{type(error).__name__}: {error}") from error

    def model_inputs(self, listings: Sequence[Listing]) -> list[dict]:
        """What the model sees for each listing, by feature name (categoricals as their level
        name, missing as None), with the age of its market statistics: the service's side of
        the parity check (training.parity), and an answer to "why this price?"."""
        if not listings:
            return []
        _, read = self.read(listings)
        matrix = self.bundle.encode(read.features)
        names = self.bundle.features
        out = []
        for i in range(len(listings)):
            row = {name: read.features[name][i] if name in read.features else None for name in names}
            for j, name in enumerate(names):
                if name not in read.features:  # computed by the model bundle (the market source)
                    row[name] = None if np.isnan(matrix[i, j]) else float(matrix[i, j])
            row["market_data_age_s"] = read.age_s[i]
            row["market_data_at"] = read.stamp_s[i]  # the statistics' event time (epoch s)
            out.append(row)
        return out

    def prices(self, listings: Sequence[Listing], read: MarketRead | None = None) -> list[float]:
        """The point estimates alone (a shadow model's: no interval, drivers or confidence), by the
        same sum of leaf contributions as `valuate`'s, so a shadow price is to the unit what this
        model would serve (XGBoost's own prediction differs in float32 rounding, ~4e-6). `read`:
        a read of the same listings by a valuator this one `reads_like`."""
        if not listings:
            return []
        if read is None:
            _, read = self.read(listings)
        explainer = self.batch_explainer if len(listings) >= self.threads_from_rows else self.explainer
        price = explainer.explain(self.bundle.encode(read.features), self.grouped)[0]
        return [float(p) for p in np.round(np.asarray(price, dtype=np.float64))]

    def valuate(self, listings: Sequence[Listing], read: tuple[dict, MarketRead] | None = None) -> list[Valuation]:
        """`read`: this valuator's `read` of the same listings, when the caller has it already."""
        if not listings:
            return []
        entity_rows, read = read if read is not None else self.read(listings)
        confidence, reasons = self.judge.judge(listings, entity_rows["model_key"], entity_rows["brand_key"],
                                               read.features.get("km_per_year", [None] * len(listings)),
                                               read.fallback, read.age_s)
        explainer = self.batch_explainer if len(listings) >= self.threads_from_rows else self.explainer
        matrix = self.bundle.encode(read.features)
        price, low, high, grouped = explainer.explain(matrix, self.grouped, [c.value for c in confidence])
        # Money in the currency's unit (whole rupiah, dollars, rupees): further digits are noise.
        amounts = np.round(self.drivers.amounts(grouped, price))
        price, low, high = (np.round(np.asarray(a, dtype=np.float64)) for a in (price, low, high))
        drivers = self.drivers.top(amounts, self.currency, self.top_drivers)
        out = []
        for i, listing in enumerate(listings):
            predicted, lo, hi = float(price[i]), float(low[i]), float(high[i])
            asking = listing.asking_price
            bands = self.bands[confidence[i]]
            out.append({
                "listing_id": listing.listing_id,
                "predicted_price": predicted,
                "price_low": lo,
                "price_high": hi,
                "currency": self.currency,
                "asking_price": asking,
                "deal_rating": deal_rating(asking, predicted, bands) if asking is not None and bands else None,
                "value_drivers": drivers[i],
                "fallback": read.fallback[i],
                "confidence": confidence[i],
                "confidence_reasons": reasons[i],
                "model_version": self.bundle.version,
                "feature_service": self.feature_service,
                "market_data_age_s": read.age_s[i],
            })
        # One validation for the whole batch: cheaper than building a model per valuation.
        return VALUATION_LIST.validate_python(out)
