"""Idempotent writes of valuations and dead letters: a replay upserts the same rows."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from autovalue.tables import connect, dead_letters, valuations
from consumers.messages import Accepted, DeadLetter

_UPDATED_ON_REPLAY = ["predicted_price", "price_low", "price_high", "deal_rating", "fallback",
                      "feature_service", "scored_at", "asking_price"]


def _insert(engine: Engine):
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


class ValuationStore:
    def __init__(self, url: str) -> None:
        self.engine = connect(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            self.engine.dispose()  # reconnect with the pragmas
        insert = _insert(self.engine)
        statement = insert(valuations)
        self.upsert_valuation = statement.on_conflict_do_update(
            index_elements=["listing_id", "listed_at", "model_version"],
            set_={c: statement.excluded[c] for c in _UPDATED_ON_REPLAY})
        self.insert_dead_letter = insert(dead_letters).on_conflict_do_nothing(
            index_elements=["topic", "partition", "offset"])

    def write(self, accepted: list[Accepted], valued: list[dict], dead: list[DeadLetter]) -> None:
        """All rows of one batch in one transaction."""
        now = datetime.now(timezone.utc)
        with self.engine.begin() as connection:
            # Statements without inline values compile once and run as executemany: a
            # 500-row VALUES clause compiled anew per batch cost ~300 ms.
            if valued:
                connection.execute(self.upsert_valuation, [_valuation_row(a, v, now) for a, v in zip(accepted, valued)])
            if dead:
                connection.execute(self.insert_dead_letter, [
                    {"topic": d.topic, "partition": d.partition, "offset": d.offset, "listing_id": d.listing_id,
                     "reason": d.reason, "payload": d.payload, "created_at": now} for d in dead])


def _valuation_row(accepted: Accepted, valuation: dict, now: datetime) -> dict:
    listing = accepted.listing
    return {
        "listing_id": listing.listing_id, "listed_at": listing.listed_at, "brand": listing.brand,
        "model": listing.model, "year": listing.year, "mileage": listing.mileage_km,
        "fuel": listing.fuel.value, "transmission": listing.transmission.value,
        "body_type": listing.body_type.value, "region": listing.region,
        "seller_type": listing.seller_type.value, "asking_price": listing.asking_price,
        "predicted_price": valuation["predicted_price"], "price_low": valuation["price_low"],
        "price_high": valuation["price_high"], "deal_rating": valuation.get("deal_rating"),
        "fallback": valuation.get("fallback"), "model_version": valuation["model_version"],
        "feature_service": valuation.get("feature_service"), "produced_at": accepted.produced_at,
        "scored_at": now, "created_at": now,
    }


def _sqlite_pragmas(connection, _record) -> None:
    # WAL lets the dashboard read while scorers write; busy_timeout lets two scorers take turns.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
