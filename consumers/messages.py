"""Turning a Kafka record into a valid Listing, or into a dead letter with the reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from pydantic import ValidationError

from autovalue import strict_json
from autovalue.schema import Listing


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    reason: str
    payload: str
    listing_id: str | None = None

    def message(self) -> dict:
        return {"reason": self.reason, "payload": self.payload, "topic": self.topic,
                "partition": self.partition, "offset": self.offset, "listing_id": self.listing_id,
                "failed_at": datetime.now(timezone.utc).isoformat()}


@dataclass(frozen=True)
class Accepted:
    listing: Listing
    produced_at: datetime
    partition: int
    offset: int
    key: bytes | None = None  # the record's key


def describe(error: ValidationError) -> str:
    """`field: message; ...` — one line naming every bad field."""
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "listing"
        parts.append(f"{field}: {item['msg']}")
    return "; ".join(parts)


def parse_record(record) -> Accepted | DeadLetter:
    raw = record.value or b""
    produced_at = datetime.fromtimestamp(record.timestamp / 1000, tz=timezone.utc)
    try:
        # pydantic parses and validates the JSON in one pass, ~3x faster than json.loads first;
        # whatever it refuses takes the slow path below, which words the reason. Its parser
        # takes NaN/Infinity literals, even in a field the listing ignores: those go slow too.
        listing = Listing.model_validate_json(raw)
        if not strict_json.may_hold_non_finite_literal(raw):
            return Accepted(listing, produced_at, record.partition, record.offset, record.key)
    except ValidationError:
        pass
    payload = raw.decode("utf-8", errors="replace")

    def dead(reason: str, listing_id: str | None = None) -> DeadLetter:
        return DeadLetter(record.topic, record.partition, record.offset, reason, payload, listing_id)

    try:
        data = strict_json.loads(raw)
    except (ValueError, RecursionError) as error:  # undecodable, not JSON, NaN, too long a number, too deep
        return dead(f"not JSON: {error}")
    if not isinstance(data, dict):
        return dead(f"not a JSON object: got {type(data).__name__}")
    listing_id = data.get("listing_id") if isinstance(data.get("listing_id"), str) else None
    try:
        listing = Listing.model_validate(data)
    except ValidationError as error:
        return dead(f"invalid listing: {describe(error)}", listing_id)
    return Accepted(listing, produced_at, record.partition, record.offset, record.key)
