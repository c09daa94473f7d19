"""JSON as RFC 8259 defines it, for the service's guard and the scorer alike.

Python's json module and pydantic's JSON parser both accept the bare literals NaN, Infinity and
-Infinity. No JSON encoder should send them, and a NaN in a field the listing ignores would pass
validation unseen: a body holding one is malformed JSON.
"""

from __future__ import annotations

import json
from typing import Any


class NonFiniteLiteral(ValueError):
    """A bare NaN / Infinity / -Infinity in a JSON document."""


def _refuse(literal: str) -> Any:
    raise NonFiniteLiteral(f"{literal} is not valid JSON (numbers must be finite)")


def loads(raw: bytes | str) -> Any:
    """json.loads without the non-finite literals (raises NonFiniteLiteral, a ValueError)."""
    return json.loads(raw, parse_constant=_refuse)


def may_hold_non_finite_literal(raw: bytes) -> bool:
    """A cheap byte scan: False means no non-finite literal anywhere in `raw`
    ("-Infinity" contains "Infinity")."""
    return b"NaN" in raw or b"Infinity" in raw


def non_finite_literal(raw: bytes) -> str | None:
    """Why `raw` is malformed because of a non-finite literal, else None (also when it is
    malformed otherwise: the caller's own parser says why). Parses only when the scan hits,
    e.g. a "NaN" inside a string."""
    if not may_hold_non_finite_literal(raw):
        return None
    try:
        loads(raw)
    except NonFiniteLiteral as error:
        return str(error)
    except (ValueError, RecursionError):
        return None
    return None
