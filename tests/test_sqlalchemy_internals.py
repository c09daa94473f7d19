"""consumers/sqlalchemy_internals.py still reads the "?" order SQLAlchemy compiles: an upgrade
that changes it fails here, not as valuations stored in the wrong columns."""

from __future__ import annotations

import re

import sqlalchemy
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import psycopg

from autovalue.tables import valuations
from consumers.messages import Limits
from consumers.sink import ValuationStore
from consumers.sqlalchemy_internals import WRITTEN_FOR, positional_order

COLUMNS = [column.name for column in valuations.columns if not column.primary_key]


def _inserted_columns(sql: str) -> list[str]:
    match = re.match(r"INSERT INTO \w+ \(([^)]*)\) VALUES \(([^)]*)\)", sql)
    assert match, sql
    names = [name.strip().strip('"') for name in match.group(1).split(",")]
    assert [mark.strip() for mark in match.group(2).split(",")] == ["?"] * len(names), sql
    return names


def test_written_for_the_installed_sqlalchemy():
    assert sqlalchemy.__version__ == WRITTEN_FOR, "re-check consumers/sqlalchemy_internals.py against this SQLAlchemy"


def test_the_order_is_the_sql_columns_whatever_order_the_keys_are_given_in():
    statement = sqlite.insert(valuations)
    compiled = statement.compile(dialect=sqlite.dialect(), column_keys=list(reversed(COLUMNS)))
    assert positional_order(compiled) == _inserted_columns(str(compiled))


def test_the_sinks_upsert_binds_every_column_in_the_order_of_its_sql(tmp_path):
    store = ValuationStore(f"sqlite:///{tmp_path / 'v.db'}", Limits(listing_bytes=4000, payload_bytes=1000))
    statement = store.upsert_valuation
    assert statement.order == _inserted_columns(statement.sql)
    assert sorted(statement.order) == sorted(COLUMNS)


def test_named_parameters_have_no_order():  # PostgreSQL through psycopg, as production writes
    compiled = postgresql.insert(valuations).compile(dialect=psycopg.dialect(), column_keys=COLUMNS)
    assert positional_order(compiled) is None
