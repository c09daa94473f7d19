"""Parity: one listing, one value, whichever way it is valued.

Each sampled listing is valued three ways and the answers compared feature by feature and
price by price:
- the training path: the point-in-time dataset row (training.dataset.feature_rows, Feast's
  offline store at the listing's time) through the model bundle;
- the running service over HTTP (`/model_inputs` and `/valuate_batch`), online store as it is;
- the row the scorer stored (`valuations`), for listings from the stream.
The listing's own (request-time) features must always agree. Market features and prices are
compared where the service's market statistics are as of the listing's moment; where they are
newer (pushed after the listing, or a holdout listing months old) the market has moved since,
and the price is compared on the training path's market with the service's own features.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from autovalue.model_bundle import ModelBundle
from autovalue.schema import FIELD_KINDS, LISTING_FIELDS
from training.dataset import LABEL, feature_rows

_CASTS = {"integer": int, "number": float, "text": str}
Post = Callable[[str, list[dict]], list[dict]]
# The service reuses a key's market row for up to a second (service_feature_cache_s) and the
# scorer stamps scored_at after the HTTP call: rows within this many seconds are the same row.
MARKET_STAMP_TOLERANCE_S = 2.0


@dataclass
class Mismatch:
    listing_id: str
    what: str  # a feature name, or "price" / "stored price"
    training: object
    service: object


@dataclass
class ParityReport:
    sample: str
    listings: int = 0
    refused: int = 0  # sampled rows the listing schema refuses (junk in real files): not sent
    stored_compared: int = 0  # stored rows compared with the service
    market_compared: int = 0  # listings whose service market was as of their moment
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def disagreeing(self) -> int:
        return len({m.listing_id for m in self.mismatches})

    @property
    def agreement(self) -> float:
        return 1 - self.disagreeing / self.listings if self.listings else 1.0

    def lines(self, examples: int = 3) -> list[str]:
        out = [f"{self.sample}: {self.listings:,} listings, {self.agreement:.2%} agree "
               f"({self.market_compared:,} with the market as of their moment, "
               f"{self.listings - self.market_compared:,} whose market has moved since; "
               f"{self.refused:,} sampled rows refused by the listing schema; "
               f"{self.stored_compared:,} stored rows compared)"]
        by_what: dict[str, list[Mismatch]] = {}
        for mismatch in self.mismatches:
            by_what.setdefault(mismatch.what, []).append(mismatch)
        for what, found in sorted(by_what.items(), key=lambda item: -len(item[1])):
            shown = "; ".join(f"{m.listing_id}: training {m.training!r}, service {m.service!r}" for m in found[:examples])
            out.append(f"  {what}: {len(found):,} listings differ, e.g. {shown}")
        return out


def listing_payloads(rows: pd.DataFrame, attributes=()) -> list[dict]:
    """Canonical listing rows, with the market's `attributes`, as the JSON a producer would send
    (missing optional fields left out)."""
    out = []
    listed = pd.to_datetime(rows["listed_at"], utc=True)
    kinds = {**FIELD_KINDS, **{a.name: "number" if a.kind == "number" else "text" for a in attributes}}
    for (_, row), moment in zip(rows.iterrows(), listed):
        payload = {"listed_at": moment.isoformat()}
        for name in [*LISTING_FIELDS, *(a.name for a in attributes)]:
            value = row.get(name)
            if name == "listed_at" or value is None or pd.isna(value):
                continue
            payload[name] = _CASTS[kinds[name]](value)
        out.append(payload)
    return out


def check(spec, bundle: ModelBundle, rows: pd.DataFrame, dated: bool, post: Post, sample: str,
          stored: pd.DataFrame | None = None, tolerance: float = 0.005, batch: int = 500) -> ParityReport:
    """`rows`: canonical listing rows (listed_at = the moment each is valued at); `spec`: the
    feature service (feature_repo.service_features.ServiceFeatures); `post(path, listings)`:
    the service's answer; `stored`: valuations rows (listing_id, predicted_price) to compare."""
    from pydantic import ValidationError

    from autovalue.market_attributes import parse_attributes
    from autovalue.schema import listing_model

    attributes = parse_attributes(bundle.metadata.get("attributes"))
    listing_type = listing_model(attributes, bundle.metadata.get("currency"))
    rows = rows.reset_index(drop=True)
    payloads, keep = [], []
    for i, payload in enumerate(listing_payloads(rows, attributes)):
        try:
            listing_type.model_validate(payload)
        except ValidationError:
            continue  # the service would refuse it (422): nothing to compare
        payloads.append(payload)
        keep.append(i)
    refused = len(rows) - len(keep)
    rows = rows.iloc[keep].reset_index(drop=True)
    names = [name for name in bundle.features if name in spec.features]
    training = feature_rows(spec, rows.assign(event_timestamp=rows["listed_at"], **{LABEL: 1.0}), names, dated,
                            attributes)
    matrix = bundle.encode(training)
    for j, name in enumerate(bundle.features):  # inputs the bundle computes (the market source)
        if name not in training.columns:
            training[name] = matrix[:, j]
    trained_price = bundle.predict(matrix)[0]
    served, valued = [], []
    for start in range(0, len(payloads), batch):
        inputs = post("/model_inputs", payloads[start:start + batch])
        served += inputs
        valued += post("/valuate_batch", payloads[start:start + batch])
    report = ParityReport(sample, listings=len(rows), refused=refused)
    request = set(spec.request_features)  # the listing's own; the rest depends on the market
    market_features = [name for name in names if name not in request]
    listed = pd.to_datetime(rows["listed_at"], utc=True).map(pd.Timestamp.timestamp).to_numpy()
    stored_price = dict(zip(stored["listing_id"], stored["predicted_price"])) if stored is not None else {}
    stored_stamp = _market_stamps(stored) if stored is not None else {}
    hybrid = []  # listings valued on the training path's market with the service's own features
    for i, (inputs, valuation) in enumerate(zip(served, valued)):
        listing_id = str(rows.at[i, "listing_id"])
        stamp = inputs.get("market_data_at")
        # Without market features there is no market to have moved; with statistics newer than
        # the listing (or none fresh at its moment: blanked) the service cannot show the market
        # of the listing's moment.
        as_of_moment = not market_features or (stamp is not None and stamp <= listed[i] + 1.0)
        report.market_compared += as_of_moment
        for name in bundle.features:
            if (as_of_moment or name in request) and not _same(training.at[i, name], inputs.get(name)):
                report.mismatches.append(Mismatch(listing_id, name, _plain(training.at[i, name]), inputs.get(name)))
        if as_of_moment:
            _compare(report, listing_id, "price", trained_price[i], valuation["predicted_price"], tolerance)
        else:
            hybrid.append(i)
        # The stored row against the service: when both read the same market row (same event
        # time: not pushed again since the scorer valued it), or there is no market to read.
        same_row = (not market_features or stamp is None or listing_id not in stored_stamp
                    or abs(stored_stamp[listing_id] - stamp) <= MARKET_STAMP_TOLERANCE_S)
        if listing_id in stored_price and (as_of_moment or same_row):
            report.stored_compared += 1
            _compare(report, listing_id, "stored price", stored_price[listing_id], valuation["predicted_price"],
                     tolerance)
    if hybrid:
        mixed = training.iloc[hybrid].copy()
        for name in request:
            mixed[name] = [served[i].get(name) for i in hybrid]
        mixed_price = bundle.predict(bundle.encode(mixed))[0]
        for k, i in enumerate(hybrid):
            _compare(report, str(rows.at[i, "listing_id"]), "price", trained_price[i], mixed_price[k], tolerance)
    return report


def _market_stamps(stored: pd.DataFrame) -> dict[str, float]:
    """listing_id -> event time (epoch s) of the market row a stored valuation used, if known
    (its age is at the listing's moment; a row newer than the listing reads as age 0, and so as
    the listing's own time: then no same row is found and the stored price is not compared)."""
    if "market_data_age_s" not in stored or "listed_at" not in stored:
        return {}
    listed = pd.to_datetime(stored["listed_at"], utc=True).map(pd.Timestamp.timestamp)
    stamps = listed - stored["market_data_age_s"].astype(float)
    return {key: stamp for key, stamp in zip(stored["listing_id"], stamps) if pd.notna(stamp)}


def _compare(report: ParityReport, listing_id: str, what: str, expected: float, got: float, tolerance: float) -> None:
    if not abs(got / expected - 1) <= tolerance:
        report.mismatches.append(Mismatch(listing_id, what, float(expected), float(got)))


def _plain(value):
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _same(expected, got) -> bool:
    expected = _plain(expected)
    if expected is None or got is None:
        return expected is None and got is None
    if isinstance(expected, str) or isinstance(got, str):
        return str(expected) == str(got)
    return math.isclose(float(expected), float(got), rel_tol=1e-6, abs_tol=1e-9)
