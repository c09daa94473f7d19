"""Idempotent writes of valuations and dead letters: a replay upserts the same rows.

A batch is one transaction. When the database refuses a row for what it holds (not for being
down or locked), the batch is written row by row and each refused valuation becomes a dead
letter: one listing never stops the others."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone

from sqlalchemy import event
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError, StatementError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from autovalue.settings import get_settings
from autovalue.schema import CAR_ATTRIBUTES, LISTING_FIELDS, plain
from autovalue.tables import STORED_AS, connect, dead_letters, valuations
from consumers.messages import Accepted, DeadLetter, Limits, refused
from consumers.sqlalchemy_internals import positional_order

_UPDATED_ON_REPLAY = ["predicted_price", "price_low", "price_high", "deal_rating", "fallback",
                      "feature_service", "scored_at", "asking_price"]


def _insert(engine: Engine):
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


# Errors about a row's content: anything else (down, locked) is retried by the caller.
ROW_ERRORS = (DataError, IntegrityError, StatementError)
# ...though these are StatementErrors too: the database down or busy, never the row's fault.
INFRASTRUCTURE_ERRORS = (OperationalError, InterfaceError)


class ValuationStore:
    def __init__(self, url: str, limits: Limits | None = None) -> None:
        self.limits = limits or Limits.of(get_settings())
        self.engine = connect(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", sqlite_pragmas)
            self.engine.dispose()  # reconnect with the pragmas
        insert = _insert(self.engine)
        statement = insert(valuations)
        upsert_valuation = statement.on_conflict_do_update(
            index_elements=["listing_id", "listed_at", "model_version"],
            set_={c: statement.excluded[c] for c in _UPDATED_ON_REPLAY})
        self.upsert_valuation = _DriverStatement(upsert_valuation, _VALUATION_COLUMNS, self.engine.dialect)
        self.insert_dead_letter = insert(dead_letters).on_conflict_do_nothing(index_elements=DEAD_LETTER_KEY)

    def write(self, accepted: list[Accepted], valued: list[dict],
              dead: list[DeadLetter]) -> tuple[list[int], list[DeadLetter]]:
        """All rows of one batch in one transaction. Returns the indexes of the valuations the
        database refused (usually none), each stored as a dead letter instead, and the batch's
        dead letters with those added. `dead` is left as it is: a write retried after the
        database failed midway starts from the same batch, so no letter is added twice."""
        try:
            self._write(accepted, valued, dead)
            return [], list(dead)
        except INFRASTRUCTURE_ERRORS:
            raise
        except ROW_ERRORS:
            return self._write_one_by_one(accepted, valued, list(dead))

    def _write(self, accepted: list[Accepted], valued: list[dict], dead: list[DeadLetter]) -> None:
        now = datetime.now(timezone.utc)
        with self.engine.begin() as connection:
            # Statements without inline values, compiled once, run as executemany: a 500-row
            # VALUES clause compiled anew per batch was most of a batch's write.
            if valued:
                self.upsert_valuation.execute(connection, [_valuation_row(a, v) for a, v in zip(accepted, valued)],
                                              same_in_every_row={"scored_at": now, "created_at": now})
            if dead:
                connection.execute(self.insert_dead_letter, [dead_letter_row(d, now) for d in dead])

    def _write_one_by_one(self, accepted: list[Accepted], valued: list[dict],
                          dead: list[DeadLetter]) -> tuple[list[int], list[DeadLetter]]:
        refused_rows = []
        for i, (item, valuation) in enumerate(zip(accepted, valued)):
            try:
                self._write([item], [valuation], [])
            except INFRASTRUCTURE_ERRORS:
                raise
            except ROW_ERRORS as error:
                refused_rows.append(i)
                dead.append(refused(item, f"could not be stored: {_first_line(error)}", self.limits))
        for letter in dead:
            try:
                self._write([], [], [letter])
            except INFRASTRUCTURE_ERRORS:
                raise
            except ROW_ERRORS as error:  # what the letter itself holds: keep where and why, not what
                self._write([], [], [replace(letter, payload=None, reason=f"{letter.reason[:500]} "
                                                                     f"(payload not storable: {_first_line(error)})")])
        return refused_rows, dead


class _DriverStatement:
    """A statement compiled once and run as the driver's own executemany, each row's values
    converted by the column types' bind processors. SQLAlchemy's executemany rebuilds and
    re-processes every row's parameters in Python, a large share of a scorer's time per listing
    (bench/README.md, Streaming); the SQL, the dialect and the conversions are the same."""

    def __init__(self, statement, columns: list[str], dialect) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=columns)
        self.sql = str(compiled)
        self.order = positional_order(compiled)  # sqlite: "?" params
        table_columns = statement.table.c
        self.processors = {name: processor for name in columns
                           if (processor := table_columns[name].type.dialect_impl(dialect).bind_processor(dialect))}

    def execute(self, connection, rows: list[dict], same_in_every_row: dict | None = None) -> None:
        """`rows` are converted in place (the caller builds them for this call);
        `same_in_every_row`: values converted once for the whole batch (a datetime's conversion is not free)."""
        shared = {name: self.processors[name](value) if name in self.processors else value
                  for name, value in (same_in_every_row or {}).items()}
        processors = {name: processor for name, processor in self.processors.items() if name not in shared}
        for row in rows:
            for name, processor in processors.items():
                row[name] = processor(row[name])
            row.update(shared)
        params = [tuple(row[name] for name in self.order) for row in rows] if self.order else rows
        connection.exec_driver_sql(self.sql, params)


def _first_line(error: Exception) -> str:
    return str(getattr(error, "orig", None) or error).splitlines()[0][:300]


# A dead letter's identity (autovalue.tables.dead_letters' unique key): a replay stores nothing new.
DEAD_LETTER_KEY = ["topic", "partition", "offset", "produced_at", "payload_sha256"]


def dead_letter_row(d: DeadLetter, now: datetime) -> dict:
    return {"topic": d.topic, "partition": d.partition, "offset": d.offset, "listing_id": d.listing_id,
            "reason": d.reason, "payload": d.payload, "payload_bytes": d.payload_bytes,
            "payload_sha256": d.payload_sha256, "produced_at": d.produced_at, "created_at": now}


def market_attributes_json(listing) -> str | None:
    """The attributes a market's listing brings beyond the core Listing, as stored."""
    own = {name: getattr(listing, name) for name in type(listing).model_fields if name not in LISTING_FIELDS}
    return json.dumps(own, sort_keys=True) if own else None


def _valuation_row(accepted: Accepted, valuation: dict) -> dict:
    listing = accepted.listing
    return {
        "listing_id": listing.listing_id, "listed_at": listing.listed_at,
        **{STORED_AS.get(name, name): plain(getattr(listing, name)) for name in CAR_ATTRIBUTES},
        "asking_price": listing.asking_price, "attributes": market_attributes_json(listing),
        "predicted_price": valuation["predicted_price"], "price_low": valuation["price_low"],
        "price_high": valuation["price_high"], "deal_rating": valuation.get("deal_rating"),
        "fallback": valuation.get("fallback"), "confidence": valuation.get("confidence"),
        "market_data_age_s": valuation.get("market_data_age_s"), "model_version": valuation["model_version"],
        "feature_service": valuation.get("feature_service"), "produced_at": accepted.produced_at,
        "shadow_model_version": valuation.get("shadow_model_version"), "shadow_price": valuation.get("shadow_price"),
    }


# Every column but the generated id: a row that misses one fails loudly (KeyError), never stores NULL.
_VALUATION_COLUMNS = [column.name for column in valuations.columns if not column.primary_key]


def sqlite_pragmas(connection, _record) -> None:
    # WAL lets the dashboard read while scorers write; busy_timeout lets two scorers take turns.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
