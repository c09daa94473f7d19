"""Bad state never shows a traceback: a section that fails says so plainly and the page goes on.

`with shown_safely("Consumer lag"):` around each section of a page. Known outages (database,
broker, service, missing data) have their own plain messages; anything else is named by its
type and message, and the full traceback goes to the dashboard's log, not the screen.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

import streamlit as st

log = logging.getLogger("autovalue.app")


class Unavailable(Exception):
    """A part of the system is down or has no data yet; the message is for a person to read."""


class DatabaseUnavailable(Unavailable):
    pass


class BrokerUnavailable(Unavailable):
    pass


class ServiceUnavailable(Unavailable):
    pass


class NoData(Unavailable):
    """Nothing to show yet (e.g. no runs, no market data): not an error, just a fact."""


@contextmanager
def shown_safely(section: str):
    try:
        yield
    except NoData as missing:
        st.info(str(missing))
    except Unavailable as down:
        st.warning(f"**{section}:** {down}")
    except Exception as error:  # noqa: BLE001 — the point is that nothing escapes to the screen
        log.exception("dashboard section %r failed", section)
        st.warning(f"**{section}** cannot be shown right now ({type(error).__name__}: {error}).")
