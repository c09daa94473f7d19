"""Idempotent writes of outcomes: one row per listing, joined to the valuation the user saw.

An outcome is stored as it arrives. Its valuation columns are filled from the listing's
earliest row in `valuations` once that row exists: every write (and, when no outcome
arrives, every `outcomes_join_interval_s`) runs one UPDATE over the outcomes still waiting
for their valuation. A replay upserts the outcome and joins it again.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import and_, event, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from autovalue.outcome import Outcome
from autovalue.tables import connect, dead_letters, outcomes, valuations
from consumers.messages import DeadLetter
from consumers.sink import DEAD_LETTER_KEY, dead_letter_row, sqlite_pragmas

OUTCOME_COLUMNS = ["outcome", "sold_price", "days_on_market", "outcome_at", "stored_at"]
JOINED_COLUMNS = ["valuation_id", "brand", "model", "model_version", "predicted_price", "price_low",
                  "price_high", "asking_price", "deal_rating", "confidence", "realized_error", "abs_pct_error",
                  "inside_interval", "shadow_model_version", "shadow_price", "shadow_abs_pct_error"]


def _earliest_valuation():
    """The id of the outcome's listing's first stored valuation (what the user saw on arrival)."""
    earlier = valuations.alias("earliest")
    return (select(earlier.c.id).where(earlier.c.listing_id == outcomes.c.listing_id)
            .order_by(earlier.c.created_at, earlier.c.id).limit(1).correlate(outcomes).scalar_subquery())


def _join_statement():
    """UPDATE the outcomes without a valuation yet whose listing now has one: copy the
    valuation's columns and derive the realized error. Correlated scalar subqueries, so the
    same statement runs on SQLite and PostgreSQL."""
    first = _earliest_valuation()

    def of_first(column):
        return select(column).where(valuations.c.id == first).correlate(outcomes).scalar_subquery()

    predicted = of_first(valuations.c.predicted_price)
    error = outcomes.c.sold_price / predicted - 1
    values = {name: of_first(valuations.c[name]) for name in
              ["brand", "model", "model_version", "predicted_price", "price_low", "price_high",
               "asking_price", "deal_rating", "confidence", "shadow_model_version", "shadow_price"]}
    values.update(
        valuation_id=first, realized_error=error, abs_pct_error=func.abs(error),
        shadow_abs_pct_error=func.abs(outcomes.c.sold_price / of_first(valuations.c.shadow_price) - 1),
        inside_interval=and_(outcomes.c.sold_price >= of_first(valuations.c.price_low),
                             outcomes.c.sold_price <= of_first(valuations.c.price_high)))
    has_valuation = exists(select(valuations.c.id).where(valuations.c.listing_id == outcomes.c.listing_id)
                           .correlate(outcomes))
    return update(outcomes).where(outcomes.c.valuation_id.is_(None), has_valuation).values(**values)


class OutcomeStore:
    def __init__(self, url: str) -> None:
        self.engine = connect(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", sqlite_pragmas)
            self.engine.dispose()  # reconnect with the pragmas (the scorer writes the same file)
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        statement = insert(outcomes)
        # A replay takes the outcome as sent now and drops the join: the same transaction joins it again.
        self.upsert = statement.on_conflict_do_update(
            index_elements=["listing_id"],
            set_={**{c: statement.excluded[c] for c in OUTCOME_COLUMNS}, **{c: None for c in JOINED_COLUMNS}})
        self.insert_dead_letter = insert(dead_letters).on_conflict_do_nothing(index_elements=DEAD_LETTER_KEY)
        self.join = _join_statement()

    def write(self, received: list[Outcome], dead: list[DeadLetter]) -> int:
        """One transaction: the outcomes (the last one per listing wins), the dead letters, and
        the join of every waiting outcome. Returns how many outcomes got their valuation."""
        now = datetime.now(timezone.utc)
        latest = {o.listing_id: o for o in received}
        with self.engine.begin() as connection:
            if latest:
                connection.execute(self.upsert, [
                    {"listing_id": o.listing_id, "outcome": o.outcome.value, "sold_price": o.sold_price,
                     "days_on_market": o.days_on_market, "outcome_at": o.outcome_at, "stored_at": now}
                    for o in latest.values()])
            if dead:
                connection.execute(self.insert_dead_letter, [dead_letter_row(d, now) for d in dead])
            return connection.execute(self.join).rowcount

    def join_waiting(self) -> int:
        """Join the stored outcomes whose valuation arrived after them."""
        with self.engine.begin() as connection:
            return connection.execute(self.join).rowcount

    def close(self) -> None:
        self.engine.dispose()
