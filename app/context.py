"""Settings and long-lived connections for the pages, shared across reruns."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from autovalue.settings import Settings


def settings() -> Settings:
    # Read on every rerun (cheap): a test or an operator changing AUTOVALUE_* sees it at once.
    return Settings()


@st.cache_resource(show_spinner=False)
def engine(url: str) -> Engine:
    """A read engine for the valuations database. The dashboard only reads: it creates no
    database and no tables (the scorer does), so a missing database stays visible as such."""
    connect_args = {"connect_timeout": 3} if url.startswith("postgresql") else {}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
