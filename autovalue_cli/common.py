"""Helpers shared by the command modules."""

from __future__ import annotations

import signal
from datetime import date, datetime, timezone


def today() -> date:
    return datetime.now(timezone.utc).date()


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = {"now": False}

    def handler(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    while not stop["now"]:
        signal.pause()
