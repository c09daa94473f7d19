"""Reads of the core's `valuations`, `dead_letters` and `outcomes` tables as DataFrames.

Every failure to reach the database becomes DatabaseUnavailable with a plain message; a SQLite
file that does not exist yet is reported as such instead of being created empty.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
from sqlalchemy import desc, func, inspect, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from app.guard import DatabaseUnavailable, NoData
from autovalue.accuracy import outcomes_query
from autovalue.tables import dead_letters, scorer_heartbeats, valuations

TIME_COLUMNS = ["listed_at", "produced_at", "scored_at", "created_at", "outcome_at", "stored_at",
                "started_at", "last_progress_at", "updated_at"]


def describe(url: str) -> str:
    """The database as a person would name it, without any password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite file {parsed.database}"
    return f"{parsed.get_backend_name()} database {parsed.database} at {parsed.host}:{parsed.port or ''}"


def check_sqlite_exists(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).exists():
            raise NoData(f"No valuations database yet ({describe(url)} does not exist): "
                         "the scorer creates it when it stores its first valuation.")


def _read(engine: Engine, statement) -> pd.DataFrame:
    url = engine.url.render_as_string(hide_password=True)
    check_sqlite_exists(url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(statement.get_final_froms()[0].name):
                raise NoData(f"The {describe(url)} has no {statement.get_final_froms()[0].name} "
                             "table yet: the scorer creates it when it starts.")
            frame = pd.DataFrame(connection.execute(statement).mappings().all())
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        raise DatabaseUnavailable(f"the database is unreachable ({describe(url)}): {reason}") from error
    for column in TIME_COLUMNS:
        if column in frame.columns:
            # SQLite gives naive UTC strings, PostgreSQL aware datetimes: one form for both.
            frame[column] = pd.to_datetime(frame[column], utc=True, format="mixed")
    return frame


def now() -> datetime:
    return datetime.now(timezone.utc)


def market_clock(engine: Engine) -> datetime | None:
    """The stream's own date: the newest listing date valued (a simulated or replayed market runs
    on its calendar, behind the wall clock); None before the first valuation."""
    frame = _read(engine, select(func.max(valuations.c.listed_at).label("listed_at")))
    value = frame["listed_at"].iloc[0] if len(frame) else None
    return None if value is None or pd.isna(value) else value.to_pydatetime()


def behind_market_clock(engine: Engine) -> datetime | None:
    """The stream's date when its market runs more than a day behind the wall clock (a simulated
    or replayed market on its own calendar: its statistics are of that date), else None: now.
    None too when the database cannot be read (nothing streamed yet)."""
    try:
        clock = market_clock(engine)
    except Exception:  # noqa: BLE001 — a missing or unreachable database: no stream to follow
        return None
    return clock if clock is not None and clock < now() - timedelta(days=1) else None


def latest_valuations(engine: Engine, limit: int = 20) -> pd.DataFrame:
    return _read(engine, select(valuations).order_by(desc(valuations.c.created_at), desc(valuations.c.id)).limit(limit))


def valuations_since(engine: Engine, minutes: float, limit: int = 50_000) -> pd.DataFrame:
    since = now() - timedelta(minutes=minutes)
    return _read(engine, select(valuations).where(valuations.c.created_at >= since)
                 .order_by(desc(valuations.c.id)).limit(limit))


def recent_valuations(engine: Engine, limit: int) -> pd.DataFrame:
    """The newest `limit` rows, whenever they were stored (drift compares these)."""
    return _read(engine, select(valuations).order_by(desc(valuations.c.id)).limit(limit))


def minute_counts(engine: Engine, hours: float) -> pd.DataFrame:
    """Valuations stored per minute over the last `hours`: minute, count, first, last (a few
    hundred rows whatever the rate, so every refresh can afford it)."""
    column = valuations.c.created_at
    minute = (func.strftime("%Y-%m-%d %H:%M", column) if engine.dialect.name == "sqlite"
              else func.date_trunc("minute", column)).label("minute")
    statement = (select(minute, func.count().label("count"), func.min(column).label("first"),
                        func.max(column).label("last"))
                 .where(column >= now() - timedelta(hours=hours)).group_by(minute).order_by(minute))
    frame = _read(engine, statement)
    for name in ("first", "last"):
        if name in frame.columns:
            frame[name] = pd.to_datetime(frame[name], utc=True, format="mixed")
    return frame


def outcomes_since(engine: Engine, minutes: float) -> pd.DataFrame:
    """Outcomes known in the last `minutes` (by outcome time), joined to their valuations."""
    return _read(engine, outcomes_query(now() - timedelta(minutes=minutes)))


def scorer_rows(engine: Engine, group: str) -> pd.DataFrame:
    """The heartbeat rows of the scorers of `group` (one per scorer process that ever ran)."""
    return _read(engine, select(scorer_heartbeats).where(scorer_heartbeats.c.consumer_group == group))


def dead_letter_reasons(engine: Engine) -> pd.DataFrame:
    """Dead letters grouped by reason (the part before the first ':', e.g. a field name)."""
    frame = _read(engine, select(dead_letters.c.reason, dead_letters.c.created_at))
    if frame.empty:
        return pd.DataFrame(columns=["reason", "count", "example", "last_seen"])
    parts = frame["reason"].str.split(":", n=1)
    frame["kind"] = parts.str[0].str.strip()
    frame["detail"] = parts.str[1].str.strip().fillna(frame["reason"])  # the kind is its own column
    grouped = frame.sort_values("created_at").groupby("kind").agg(
        count=("reason", "size"), example=("detail", "last"), last_seen=("created_at", "max"))
    return grouped.reset_index().rename(columns={"kind": "reason"}).sort_values("count", ascending=False)


def comparables(engine: Engine, brand: str, model: str, year: int, mileage: float, transmission: str,
                fuel: str, days: int = 90, limit: int = 8) -> pd.DataFrame:
    """Recent valuations of the same car model with the same transmission and fuel, within two
    model years, nearest mileage first."""
    since = now() - timedelta(days=days)
    statement = (select(valuations)
                 .where(func.lower(valuations.c.brand) == brand.lower(),
                        func.lower(valuations.c.model) == model.lower(),
                        valuations.c.transmission == transmission, valuations.c.fuel == fuel,
                        valuations.c.year.between(year - 2, year + 2),
                        valuations.c.created_at >= since)
                 .order_by(func.abs(valuations.c.mileage - mileage), desc(valuations.c.created_at))
                 .limit(limit * 4))
    frame = _read(engine, statement)  # a rescored listing has a row per model: its newest counts
    return frame.drop_duplicates("listing_id").head(limit) if len(frame) else frame


def listings(engine: Engine, brands: list[str], models: list[str], regions: list[str], ratings: list[str | None],
             limit: int = 5_000) -> pd.DataFrame:
    """The newest valuation of each of the most recently valued listings matching the filters (an
    empty filter matches everything; None among `ratings` means no deal rating)."""
    statement = select(valuations).order_by(desc(valuations.c.created_at), desc(valuations.c.id)).limit(limit)
    if brands:
        statement = statement.where(valuations.c.brand.in_(brands))
    if models:
        statement = statement.where(valuations.c.model.in_(models))
    if regions:
        statement = statement.where(valuations.c.region.in_(regions))
    if ratings:
        rated = [r for r in ratings if r is not None]
        condition = valuations.c.deal_rating.in_(rated)
        statement = statement.where(condition | valuations.c.deal_rating.is_(None) if None in ratings else condition)
    frame = _read(engine, statement)
    return frame.drop_duplicates("listing_id").reset_index(drop=True) if len(frame) else frame
