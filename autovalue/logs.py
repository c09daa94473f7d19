"""Logging set-up shared by every command and service."""

from __future__ import annotations

import logging


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # kafka-python narrates every connection and rebalance at INFO: keep our own lines readable.
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))
