"""Retrying what another service does for us (the valuation service, the database) with
exponential backoff, for as long as the caller still wants the result."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class Abandoned(Exception):
    """The caller stopped wanting the result while waiting to retry."""


def retry(action: Callable[[], T], retry_on: tuple[type[BaseException], ...], still_wanted: Callable[[], bool],
          max_delay_s: float, what: str, transient: Callable[[BaseException], bool] = lambda error: True) -> T:
    """`action()`, tried again after 0.1 s, 0.2 s, ... (at most `max_delay_s` apart) while it raises
    one of `retry_on` that `transient` lets through (else it is raised); raises Abandoned once
    `still_wanted()` says no."""
    delay = 0.1
    while True:
        try:
            return action()
        except retry_on as error:
            if not transient(error):
                raise
            log.warning("%s (%s); retrying in %.1f s", what, error, delay)
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            if not still_wanted():
                raise Abandoned(what)
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, max_delay_s)
