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


def one_line(error: BaseException) -> str:
    """An exception as one line: its type and the first line of its message (a driver's own
    message rather than SQLAlchemy's wrapper with the statement)."""
    name = type(error).__name__
    lines = str(getattr(error, "orig", None) or error).strip().splitlines()
    first = lines[0].removeprefix(f"{name}: ") if lines else ""  # kafka-python's errors name themselves
    return f"{name}: {first}" if first else name
