"""SIGTERM and SIGINT ask a consumer loop to stop after its current batch (one home for it)."""

from __future__ import annotations

import logging
import signal

log = logging.getLogger(__name__)


def stop_on_signals(consumer) -> None:
    """Sets `consumer.stopping` on SIGTERM or SIGINT; the loop finishes its batch and leaves."""
    def stop(signum, frame):
        log.info("signal %s: finishing the current batch, then leaving the group", signum)
        consumer.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
