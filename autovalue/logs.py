"""Logging set-up shared by every command and service."""

from __future__ import annotations

import logging
import re
from pathlib import Path


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # kafka-python narrates every connection and rebalance at INFO: keep our own lines readable.
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))


# A record's first line as setup_logging formats it; the group is the logger's name.
LOG_RECORD = re.compile(r"^\d\d:\d\d:\d\d (?:DEBUG|INFO|WARNING|ERROR|CRITICAL) (\S+): ", re.MULTILINE)


def tracebacks_outside_kafka_python(log: Path) -> list[str]:
    """Loggers of the records in a log file that carry a traceback, kafka-python's own excepted: it
    logs a socket closed under a pending read during a rebalance (kafka/net/transport.py, 3.0) with
    its traceback, and reconnects; that is the client's handled error, not a crash of ours."""
    text = log.read_text(errors="replace")
    starts = [(m.start(), m.group(1)) for m in LOG_RECORD.finditer(text)]
    found = []
    for (start, logger), (end, _) in zip(starts, starts[1:] + [(len(text), "")]):
        if "Traceback" in text[start:end] and not logger.startswith("kafka."):
            found.append(logger)
    if "Traceback" in text[: starts[0][0] if starts else len(text)]:
        found.append("(before the first log record)")
    return found
