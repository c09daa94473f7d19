"""Turning a Kafka record into a valid Listing, or into a dead letter with the reason."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone

from pydantic import ValidationError

from autovalue import strict_json
from autovalue.market_attributes import market_attributes, market_currency
from autovalue.schema import Listing, listing_model, too_large
from autovalue.settings import Settings, get_settings

# Column sizes of the dead_letters table (autovalue/tables.py): a longer value is cut, never refused.
LISTING_ID_CHARS = 128
REASON_CHARS = 1000


def market_listing(settings: Settings) -> type[Listing]:
    """The listing of the settings' market: its currency and the attributes it declared (read
    once by whoever holds it: the market's metadata file is not read per message)."""
    return listing_model(market_attributes(settings), market_currency(settings))


@dataclass(frozen=True)
class Limits:
    listing_bytes: int  # a larger message is refused, as the service refuses a larger body
    payload_bytes: int  # of a dead letter's payload, kept (the rest is cut, with a marker)

    @classmethod
    def of(cls, settings: Settings) -> "Limits":
        return cls(settings.listing_max_bytes, settings.dead_letter_payload_bytes)


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    reason: str
    payload: str  # at most Limits.payload_bytes of the record, decoded; a marker says when cut
    listing_id: str | None = None
    payload_bytes: int = 0  # the whole record value's length and sha256
    payload_sha256: str = ""
    produced_at: datetime | None = None  # the record's timestamp: with the hash, tells a recreated topic's record apart

    def message(self) -> dict:
        return {"reason": self.reason, "payload": self.payload, "payload_bytes": self.payload_bytes,
                "payload_sha256": self.payload_sha256, "topic": self.topic, "partition": self.partition,
                "offset": self.offset, "listing_id": self.listing_id,
                "produced_at": self.produced_at.isoformat() if self.produced_at else None,
                "failed_at": datetime.now(timezone.utc).isoformat()}


@dataclass(frozen=True)
class Accepted:
    listing: Listing
    produced_at: datetime
    partition: int
    offset: int
    key: bytes | None = None  # the record's key
    raw: bytes = b""  # the record's value, for a dead letter if the service refuses the listing
    topic: str = ""


def dead_letter(topic: str, partition: int, offset: int, reason: str, raw: bytes, limits: Limits,
                listing_id: str | None = None, produced_at: datetime | None = None) -> DeadLetter:
    """A dead letter that fits any table and any produce request, whatever the record held:
    the payload cut to `limits.payload_bytes` (the whole value's length and sha256 kept), the
    listing id and the reason cut to their columns, NUL characters replaced (PostgreSQL text
    cannot hold them)."""
    if not isinstance(raw, bytes):  # only a fake record holds anything else; still no crash
        raw = repr(raw).encode()
    payload = raw[:limits.payload_bytes].decode("utf-8", errors="replace")
    if len(raw) > limits.payload_bytes:
        payload += f"...[cut: {limits.payload_bytes} of {len(raw)} bytes kept]"
    return DeadLetter(topic, partition, offset, _clean(reason, REASON_CHARS), _clean(payload),
                      _clean(listing_id, LISTING_ID_CHARS) if listing_id is not None else None,
                      len(raw), hashlib.sha256(raw).hexdigest(), produced_at)


def refused(accepted: Accepted, reason: str, limits: Limits) -> DeadLetter:
    """The dead letter of a listing our schema let through but a later stage refused."""
    return dead_letter(accepted.topic, accepted.partition, accepted.offset, reason,
                       accepted.raw or accepted.listing.model_dump_json().encode(), limits,
                       accepted.listing.listing_id, accepted.produced_at)


def _clean(text: str, chars: int | None = None) -> str:
    text = text.replace("\x00", "\ufffd")
    return text if chars is None or len(text) <= chars else text[:chars - 3] + "..."


def describe(error: ValidationError) -> str:
    """`field: message; ...` — one line naming every bad field."""
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "listing"
        parts.append(f"{field}: {item['msg']}")
    return "; ".join(parts)


def record_time(record) -> datetime:
    """The record's timestamp (producer or broker time); now for a record without one."""
    if record.timestamp is None or record.timestamp < 0:
        return datetime.now(timezone.utc)
    return datetime.fromtimestamp(record.timestamp / 1000, tz=timezone.utc)


def parse_record(record, limits: Limits | None = None, listing_type: type[Listing] = Listing) -> Accepted | DeadLetter:
    """Never raises: whatever the record holds, it is a `listing_type` (market_listing) or a dead letter."""
    limits = limits or Limits.of(get_settings())
    raw = record.value or b""
    produced_at = record_time(record)
    try:
        return _parse(record, raw, produced_at, limits, listing_type)
    except Exception as error:  # a bug or a case nobody foresaw: one message, not the scorer
        return dead_letter(record.topic, record.partition, record.offset,
                           f"could not be read: {type(error).__name__}: {error}", raw, limits, produced_at=produced_at)


def _parse(record, raw: bytes, produced_at: datetime, limits: Limits, listing_type: type[Listing]) -> Accepted | DeadLetter:
    def dead(reason: str, listing_id: str | None = None) -> DeadLetter:
        return dead_letter(record.topic, record.partition, record.offset, reason, raw, limits, listing_id, produced_at)

    def accepted(listing: Listing) -> Accepted:
        if "listed_at" not in listing.model_fields_set:
            # The record's time, not the scoring time: a replay gives the listing the same date,
            # hence the same row (the table's key is listing id, listing date, model version).
            listing = listing_type.model_validate({**listing.model_dump(), "listed_at": produced_at})
        return Accepted(listing, produced_at, record.partition, record.offset, record.key, raw, record.topic)

    if len(raw) > limits.listing_bytes:  # what the service refuses with 413, in the same words
        return dead(too_large(limits.listing_bytes))
    try:
        # pydantic parses and validates the JSON in one pass, faster than json.loads first;
        # whatever it refuses takes the slow path below, which words the reason. Its parser
        # takes NaN/Infinity literals, even in a field the listing ignores: those go slow too.
        listing = listing_type.model_validate_json(raw)
        if not strict_json.may_hold_non_finite_literal(raw):
            return accepted(listing)
    except ValidationError:
        pass
    try:
        data = strict_json.loads(raw)
    except (ValueError, RecursionError) as error:  # undecodable, not JSON, NaN, too long a number, too deep
        return dead(f"not JSON: {error}")
    if not isinstance(data, dict):
        return dead(f"not a JSON object: got {type(data).__name__}")
    listing_id = data.get("listing_id") if isinstance(data.get("listing_id"), str) else None
    try:
        listing = listing_type.model_validate(data)
    except ValidationError as error:
        return dead(f"invalid listing: {describe(error)}", listing_id)
    return accepted(listing)
