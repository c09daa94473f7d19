"""What a market is: the metadata its import or generation recorded, and the listing
attributes it brings beyond the core listing (engine size, power, owners, trim...).

A mapping declares a market's attributes once (`attributes:` in market/mappings/*.yaml); the
import records them in `data/raw/<source>.meta.json`, and every part derives from that record:
the Feast request schema and views, the training columns, the API's input model, the stored
valuations and the dashboard's form. A market's attribute set is part of its feature
service's name, so a model trained on one set is never served another.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from autovalue.settings import Settings

KINDS = ("number", "category")
# A source or attribute name becomes part of Feast object, column and field names.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# The market the simulator generates; its Feast objects keep their unprefixed names.
DEFAULT_SOURCE = "market"
# What a market attribute's feature is called (an on-demand view may not reuse its input's name).
FEATURE_PREFIX = "car_"


class MarketUnknown(ValueError):
    """One line naming the market source and what is wrong with it."""


@dataclass(frozen=True)
class MarketAttribute:
    name: str
    kind: str  # number | category

    @property
    def feature(self) -> str:
        return FEATURE_PREFIX + self.name

    def declared(self) -> dict:
        return {"name": self.name, "kind": self.kind}


def check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise MarketUnknown(f"{what} {name!r} is not a valid name (lower-case letters, digits and _, "
                            "starting with a letter, at most 40 characters)")
    return name


def parse_attributes(declared, reserved: set[str] = frozenset()) -> tuple[MarketAttribute, ...]:
    """[{"name", "kind"}, ...] (as recorded) -> attributes, sorted by name; a bad one raises."""
    out = []
    for item in declared or []:
        name = check_name(item.get("name") if isinstance(item, dict) else item, "attribute")
        kind = item.get("kind") if isinstance(item, dict) else None
        if kind not in KINDS:
            raise MarketUnknown(f"attribute {name!r}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if name in reserved:
            raise MarketUnknown(f"attribute {name!r} is already a listing field")
        out.append(MarketAttribute(name, kind))
    if len({a.name for a in out}) != len(out):
        raise MarketUnknown("an attribute is declared twice")
    return tuple(sorted(out, key=lambda a: a.name))


def meta_path(raw_dir: Path, source: str) -> Path:
    return raw_dir / f"{source}.meta.json"


def read_market_meta(raw_dir: Path, source: str) -> dict:
    """The market's recorded metadata; {} when it has none (a home before any import)."""
    path = meta_path(raw_dir, source)
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def attributes_of(meta: dict) -> tuple[MarketAttribute, ...]:
    return parse_attributes(meta.get("attributes"))


def market_attributes(settings: Settings, source: str | None = None) -> tuple[MarketAttribute, ...]:
    """The attributes `source` (default: the settings' market source) brings."""
    return attributes_of(read_market_meta(settings.raw_dir, source or settings.market_source))


def market_currency(settings: Settings, source: str | None = None) -> str:
    """AUTOVALUE_MARKET_CURRENCY, else the currency the market's import recorded, else the
    simulated market's (IDR)."""
    return (settings.market_currency
            or read_market_meta(settings.raw_dir, source or settings.market_source).get("currency") or "IDR")


def sources_in(raw_dir: Path) -> list[str]:
    """Every market recorded in the data folder, by name."""
    return sorted(p.name[: -len(".meta.json")] for p in raw_dir.glob("*.meta.json")) if raw_dir.is_dir() else []


def object_prefix(source: str) -> str:
    """Prefix of a source's own Feast objects: none for the simulated market."""
    return "" if source == DEFAULT_SOURCE else f"{source}__"


def attribute_set_tag(attributes: tuple[MarketAttribute, ...]) -> str:
    """Six hex digits that change whenever the attribute set (names and kinds) does."""
    text = json.dumps([a.declared() for a in attributes], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:6]


def feature_service_name(base: str, source: str, attributes: tuple[MarketAttribute, ...]) -> str:
    """`valuation_v1` for the simulated market; `<source>_valuation_v1[_<attribute set tag>]`
    for another: its own market views and request schema, versioned by its attribute set."""
    name = base if source == DEFAULT_SOURCE else f"{source}_{base}"
    return f"{name}_{attribute_set_tag(attributes)}" if attributes else name


def source_feature_service(settings: Settings, source: str | None = None) -> str:
    source = source or settings.market_source
    return feature_service_name(settings.feature_service, source, market_attributes(settings, source))
