"""The SQLAlchemy internal the sink relies on, in one place (written for SQLAlchemy 2.1.9).

consumers/sink.py runs its upsert, compiled once, as the driver's own executemany: SQLAlchemy's
executemany rebuilds and re-processes every row's parameters in Python. SQLite's driver takes
the "?" parameters as tuples, in the order the compiled SQL names them, and only the compiler's
`positiontup` says that order. tests/test_sqlalchemy_internals.py fails as soon as an upgrade
changes the version or that order.
"""

from __future__ import annotations

WRITTEN_FOR = "2.1.9"


def positional_order(compiled) -> list[str] | None:
    """The bound parameters' names in the order of the compiled SQL's "?" marks; None when the
    dialect takes named parameters (PostgreSQL's psycopg), which are passed as dicts."""
    return list(compiled.positiontup) if compiled.positional else None
