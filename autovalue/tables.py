"""The database tables every part agrees on (SQLite embedded, PostgreSQL in production).

`valuations` grows the seed's `car_history(id, brand, year, mileage, predicted_price,
created_at)` with everything a valuation carries. One row per listing version and model
version: a replay upserts the same row, a rescore with a new champion adds a new one.

`outcomes`: one row per listing that sold or was withdrawn, joined to the valuation the user
saw when the listing arrived (its earliest row in `valuations`). The valuation columns stay
NULL until that valuation is stored; the realized error is derived from them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from autovalue.schema import ATTRIBUTE_KINDS, CAR_ATTRIBUTES, Listing

class UtcDateTime(TypeDecorator):
    """A moment stored in UTC. SQLite keeps a datetime's wall time and drops its offset, so a
    listing dated 09:30+07:00 read back as 09:30 UTC, seven hours late; PostgreSQL converts."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return value.astimezone(timezone.utc) if isinstance(value, datetime) and value.tzinfo else value


metadata = MetaData()
# A listing attribute stored under another name (the table's, from before the schema was one).
STORED_AS = {"mileage_km": "mileage"}
ENUM_LENGTH = 16


def attribute_columns() -> list[Column]:
    """The car's attributes as the Listing schema declares them: a required one NOT NULL, a text
    one as long as its declared maximum (an enum's values fit in ENUM_LENGTH)."""
    types = {"integer": Integer, "number": Float}
    out = []
    for name in CAR_ATTRIBUTES:
        field = Listing.model_fields[name]
        kind = ATTRIBUTE_KINDS[name]
        if kind == "text":
            lengths = [m.max_length for m in field.metadata if getattr(m, "max_length", None)]
            column_type = String(lengths[0] if lengths else ENUM_LENGTH)
        else:
            column_type = types[kind]
        out.append(Column(STORED_AS.get(name, name), column_type, nullable=not field.is_required()))
    return out


valuations = Table(
    "valuations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("listing_id", String(128), nullable=False, index=True),
    Column("listed_at", UtcDateTime(), nullable=False),
    *attribute_columns(),
    Column("asking_price", Float),
    Column("attributes", Text),  # the market's own listing attributes, as JSON (NULL: it declares none)
    Column("predicted_price", Float, nullable=False),
    Column("price_low", Float),
    Column("price_high", Float),
    Column("deal_rating", String(16)),
    Column("fallback", String(16)),
    Column("confidence", String(16)),  # high | medium | low (autovalue.confidence)
    Column("market_data_age_s", Float),  # age of the market statistics the valuation used
    Column("model_version", String(64), nullable=False),
    Column("feature_service", String(64)),
    # The champion the last promotion replaced, scored in shadow (NULL before a promotion).
    Column("shadow_model_version", String(64)),
    Column("shadow_price", Float),
    Column("produced_at", UtcDateTime()),
    Column("scored_at", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("listing_id", "listed_at", "model_version", name="uq_valuation_version"),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(255), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("listing_id", String(128)),
    Column("reason", Text, nullable=False),
    Column("payload", Text),  # cut to AUTOVALUE_DEAD_LETTER_PAYLOAD_BYTES, with a marker
    Column("created_at", UtcDateTime(), nullable=False),
    Column("payload_bytes", BigInteger),  # the whole record value's length and sha256
    Column("payload_sha256", String(64)),
    Column("produced_at", UtcDateTime()),  # the record's timestamp
    # Not the position alone: a recreated topic (a restarted in-memory broker) starts its offsets
    # at 0 again, and its records must not be taken for the old ones. A replay is the same letter.
    UniqueConstraint("topic", "partition", "offset", "produced_at", "payload_sha256", name="uq_dead_letter_key"),
)

# One row per scorer process, upserted every few seconds: what the dashboard shows of each.
scorer_heartbeats = Table(
    "scorer_heartbeats",
    metadata,
    Column("scorer_id", String(255), primary_key=True),  # host:pid
    Column("consumer_group", String(255), nullable=False, index=True),
    Column("host", String(255)),
    Column("pid", Integer),
    Column("partitions", String(1024)),  # assigned partitions, "0,1,2" ("" when none)
    Column("lag", BigInteger),  # end offsets minus its positions (a lower bound on tansu); NULL unknown
    Column("fetch_wait_ms", Integer),
    Column("state", String(32)),  # scoring | recovering | stopped | stalled
    Column("started_at", UtcDateTime()),
    Column("last_progress_at", UtcDateTime()),
    Column("updated_at", UtcDateTime(), nullable=False),
)

outcomes = Table(
    "outcomes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("listing_id", String(128), nullable=False),
    # The outcome, as the outcomes topic carried it.
    Column("outcome", String(16), nullable=False),  # sold | withdrawn
    Column("sold_price", Float),  # NULL when withdrawn
    Column("days_on_market", Float, nullable=False),
    Column("outcome_at", UtcDateTime(), nullable=False, index=True),
    # The listing's earliest valuation (NULL until it is stored).
    Column("valuation_id", Integer, index=True),  # the outcomes still to join: IS NULL
    Column("brand", String(64)),
    Column("model", String(64)),
    Column("model_version", String(64)),
    Column("predicted_price", Float),
    Column("price_low", Float),
    Column("price_high", Float),
    Column("asking_price", Float),
    Column("deal_rating", String(16)),
    Column("confidence", String(16)),
    # Derived, for sold listings with a valuation: sold / predicted - 1, its absolute value,
    # and whether the sold price fell inside [price_low, price_high].
    Column("realized_error", Float),
    Column("abs_pct_error", Float),
    Column("inside_interval", Boolean),
    # The same sale against the shadow model's price on the same valuation (NULL without one).
    Column("shadow_model_version", String(64)),
    Column("shadow_price", Float),
    Column("shadow_abs_pct_error", Float),
    Column("stored_at", UtcDateTime(), nullable=False),
    UniqueConstraint("listing_id", name="uq_outcome_listing"),
)


def as_listed(stored):
    """Stored valuation rows (a DataFrame) as the listings came in: each column under its Listing
    name (STORED_AS undone) and the market's own attributes, stored as JSON, as columns of their own."""
    import json

    import pandas as pd

    rows = stored.rename(columns={column: name for name, column in STORED_AS.items()})
    if "attributes" in rows and rows["attributes"].notna().any():
        own = pd.DataFrame([json.loads(text) if text else {} for text in rows["attributes"]], index=rows.index)
        rows = rows.drop(columns="attributes").join(own)
    return rows


def connect(url: str) -> Engine:
    """An engine with the tables created; safe to call from several processes."""
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(5):
        try:
            metadata.create_all(engine, checkfirst=True)
            break
        except (OperationalError, ProgrammingError, IntegrityError):
            # Another process or thread created a table between the check and the CREATE ("already
            # exists"; seen twice in a row when two open a fresh SQLite file): the next pass finds it.
            # Anything else fails every pass and the last one raises.
            if attempt == 4:
                raise
    _add_new_columns(engine)
    _migrate_dead_letter_key(engine)
    return engine


def _add_new_columns(engine: Engine) -> None:
    """Nullable columns added to a table since a database was created: added to it (a database
    from an earlier version keeps its rows; new columns start NULL there)."""
    from sqlalchemy import inspect
    from sqlalchemy.schema import CreateColumn

    inspector = inspect(engine)
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present or not column.nullable:
                continue
            ddl = CreateColumn(column).compile(dialect=engine.dialect)
            try:
                with engine.begin() as connection:
                    connection.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {ddl}")
            except (OperationalError, ProgrammingError):  # another process added it first
                pass


def _migrate_dead_letter_key(engine: Engine) -> None:
    """Databases from before the dead-letter key included the record's time and hash: their
    unique (topic, partition, offset) is replaced by the new key. PostgreSQL swaps the
    constraint; SQLite cannot drop one, so the table is rebuilt and its rows copied."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import OperationalError, ProgrammingError

    inspector = inspect(engine)
    tables = set(inspector.get_table_names())
    old = "dead_letters" in tables and any(
        u["name"] == "uq_dead_letter_position" for u in inspector.get_unique_constraints("dead_letters"))
    try:
        if engine.dialect.name == "postgresql":
            if old:
                columns = ", ".join(f'"{c}"' for c in ("topic", "partition", "offset", "produced_at", "payload_sha256"))
                with engine.begin() as connection:
                    connection.exec_driver_sql("ALTER TABLE dead_letters DROP CONSTRAINT uq_dead_letter_position")
                    connection.exec_driver_sql(
                        f"ALTER TABLE dead_letters ADD CONSTRAINT uq_dead_letter_key UNIQUE ({columns})")
            return
        if old:
            with engine.begin() as connection:
                connection.exec_driver_sql("ALTER TABLE dead_letters RENAME TO dead_letters_before_key")
            tables.add("dead_letters_before_key")
        if "dead_letters_before_key" in tables:  # also when a rebuild was cut short
            dead_letters.create(engine, checkfirst=True)
            copied = ", ".join(f'"{c["name"]}"' for c in inspect(engine).get_columns("dead_letters_before_key"))
            with engine.begin() as connection:
                connection.exec_driver_sql(f"INSERT OR IGNORE INTO dead_letters ({copied}) "
                                           f"SELECT {copied} FROM dead_letters_before_key")
                connection.exec_driver_sql("DROP TABLE dead_letters_before_key")
    except (OperationalError, ProgrammingError):  # another process migrated it meanwhile
        pass
