"""The stream's landed history: what the system valued and what became of it, written as a
market source (`landed`) that the feature pipeline and the trainer already read.

Everything comes from the database, never from the topic: a restarted broker (tansu keeps its
log in memory) loses nothing of it, and each build starts again from the tables, so the same
tables give the same files (idempotent). Each streamed listing is its first row in `valuations`
(what it was valued as on arrival, as the outcome join takes it) with its row in `outcomes`
(sold: sold_at and sold_price; withdrawn: no sale), appended to the market's own history
(data/raw/<market_source>.parquet) and written as data/raw/landed.parquet with metadata of the
same shape as the market's (its currency, attributes and noise floor).

Only labelled listings count: those whose outcome has landed, and those older than the
withdrawal horizon without one (taken as unsold). A listing still on the market is not yet a
sale nor a failure to sell: written as unsold, it would tell the market statistics of a
sell-through that never happened, and it would change its label once its sale landed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from autovalue.market_attributes import attributes_of, feature_service_name, market_currency
from autovalue.schema import CANONICAL_COLUMNS, CAR_ATTRIBUTES
from autovalue.settings import Settings
from autovalue.tables import STORED_AS, connect, outcomes, valuations
from market.io import read_meta, read_source, table_path, write_source

LANDED_SOURCE = "landed"


class HistoryUnavailable(ValueError):
    """One line: the market history or the database the landed history needs is missing."""


@dataclass(frozen=True)
class LandedHistory:
    frame: pd.DataFrame  # the market's history, then the labelled streamed listings
    meta: dict
    attributes: list[str]  # the market's own attribute columns, after the canonical ones
    history_listings: int
    sold: int  # streamed listings whose sale landed: the new labels
    withdrawn: int
    unsold_past_horizon: int  # no outcome, older than the horizon: taken as unsold
    still_listed: int  # no outcome, younger: left out
    already_in_history: int  # streamed listings the history holds already (a replay of its file)

    @property
    def streamed(self) -> int:
        return self.sold + self.withdrawn + self.unsold_past_horizon

    def summary(self, path: Path | None = None) -> str:
        where = f"{path}: " if path else ""
        return (f"{where}{self.history_listings:,} history listings + {self.streamed:,} streamed "
                f"({self.sold:,} sold, {self.withdrawn:,} withdrawn, {self.unsold_past_horizon:,} unsold past the "
                f"withdrawal horizon); {self.still_listed:,} still listed and {self.already_in_history:,} already "
                "in the history left out")


def withdrawal_horizon(settings: Settings) -> pd.Timedelta:
    """The horizon on the listings' own calendar (a simulated or replayed stream is dated on its
    market's, consumers.simulator.StreamCalendar)."""
    return pd.Timedelta(days=settings.history_withdrawal_horizon_days)


def landed_history(settings: Settings, engine: Engine | None = None) -> LandedHistory:
    """The market's history with the labelled streamed listings appended (nothing written)."""
    source = settings.market_source
    if not table_path(settings.raw_dir, source).is_file():
        raise HistoryUnavailable(f"market source {source!r} has no history: {table_path(settings.raw_dir, source)} "
                                 "is missing (`autovalue generate` or `autovalue import`)")
    meta = read_meta(settings.raw_dir, source)
    if not meta.get("has_listing_dates"):
        raise HistoryUnavailable(f"market source {source!r} is undated: its listings have no time to append a "
                                 "stream after (and an undated market has no stream)")
    attributes = attributes_of(meta)
    names = [a.name for a in attributes]
    history = read_source(settings.raw_dir, source)
    services = {feature_service_name(settings.feature_service, name, attributes) for name in (source, LANDED_SOURCE)}
    try:
        rows = _first_valuations(engine or connect(settings.database), services)
    except OperationalError as error:
        raise HistoryUnavailable(f"cannot read the valuations from {settings.database}: "
                                 f"{str(error.orig).splitlines()[0]}") from None
    rows["listed_at"] = pd.to_datetime(rows["listed_at"], utc=True)
    clock = rows["listed_at"].max()  # the stream's clock: its newest listing
    landed = rows["outcome"].notna()
    old = rows["listed_at"] <= clock - withdrawal_horizon(settings)
    still_listed = int((~landed & ~old).sum())
    rows = rows[landed | old]
    repeated = rows["listing_id"].isin(history["listing_id"])
    rows = rows[~repeated].reset_index(drop=True)
    sold = rows["outcome"].eq("sold") & rows["sold_price"].notna()
    columns = [*CANONICAL_COLUMNS, *names]
    stream = _canonical(rows, sold, names)[columns]
    frame = pd.concat([history[columns], _like(stream, history)], ignore_index=True)
    landed_meta = {
        "source": LANDED_SOURCE, "kind": "landed", "from_source": source, "market": meta.get("market"),
        "currency": market_currency(settings, source), "has_listing_dates": True,
        "attributes": meta.get("attributes", []), "listings": len(frame),
        "history_listings": len(history), "streamed_listings": len(stream), "streamed_sales": int(sold.sum()),
        "stream_clock": None if pd.isna(clock) else clock.isoformat(),
    }
    if meta.get("noise_floor_mape"):
        landed_meta["noise_floor_mape"] = meta["noise_floor_mape"]
    return LandedHistory(frame, landed_meta, names, len(history), sold=int(sold.sum()),
                         withdrawn=int(rows["outcome"].eq("withdrawn").sum()),
                         unsold_past_horizon=int(rows["outcome"].isna().sum()), still_listed=still_listed,
                         already_in_history=int(repeated.sum()))


def write_landed_history(settings: Settings, history: LandedHistory) -> Path:
    """data/raw/landed.parquet and landed.meta.json, both or neither (market.io.write_source)."""
    return write_source(settings.raw_dir, LANDED_SOURCE, [history.frame], history.meta, history.attributes)


def build_landed_history(settings: Settings) -> tuple[LandedHistory, Path]:
    history = landed_history(settings)
    return history, write_landed_history(settings, history)


def _first_valuations(engine: Engine, services: set[str]) -> pd.DataFrame:
    """Each listing's first valuation through this market's feature services (a home may hold
    another market's stream, in another currency), with its outcome if one landed."""
    stored = [STORED_AS.get(name, name) for name in CAR_ATTRIBUTES]
    nth = func.row_number().over(partition_by=valuations.c.listing_id,
                                 order_by=(valuations.c.created_at, valuations.c.id)).label("nth")
    columns = ["listing_id", "listed_at", *stored, "asking_price", "attributes"]
    first = (select(*(valuations.c[name] for name in columns), nth)
             .where(or_(valuations.c.feature_service.in_(sorted(services)), valuations.c.feature_service.is_(None)))
             .subquery())
    query = (select(*(first.c[name] for name in columns), outcomes.c.outcome, outcomes.c.sold_price,
                    outcomes.c.days_on_market, outcomes.c.outcome_at)
             .select_from(first.outerjoin(outcomes, outcomes.c.listing_id == first.c.listing_id))
             .where(first.c.nth == 1)
             .order_by(first.c.listed_at, first.c.listing_id))
    with engine.connect() as connection:
        result = connection.execute(query)
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    return frame.rename(columns={stored: name for name, stored in STORED_AS.items()})


def _canonical(rows: pd.DataFrame, sold: pd.Series, attributes: list[str]) -> pd.DataFrame:
    out = rows[["listing_id", "listed_at", *CAR_ATTRIBUTES, "asking_price"]].copy()
    listed = out["listed_at"]
    # The sale on the listing's calendar: the outcome's time, unless the listing is dated on
    # another clock than its outcome (a replay or the simulator dates listings on its market's
    # calendar, outcomes by the wall clock), when only its days on the market place the sale.
    after_days = listed + pd.to_timedelta(pd.to_numeric(rows["days_on_market"]), unit="D")
    outcome_at = pd.to_datetime(rows["outcome_at"], utc=True)
    out["sold_at"] = pd.concat([outcome_at, after_days], axis=1).min(axis=1).where(sold)
    out["sold_price"] = pd.to_numeric(rows["sold_price"]).where(sold)
    own = [json.loads(text) if isinstance(text, str) and text else {} for text in rows["attributes"]]
    for name in attributes:
        out[name] = [values.get(name) for values in own]
    return out


def _like(stream: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """The streamed rows in the history's column types, so the two write as one table."""
    out = stream.copy()
    for name in out.columns:
        if out[name].dtype != history[name].dtype:
            try:
                out[name] = out[name].astype(history[name].dtype)
            except (TypeError, ValueError):  # e.g. an attribute the history never filled: left as read
                pass
    return out
