"""`autovalue import FILE --mapping NAME|mapping.yaml`: a real CSV onto the canonical schema.

A mapping (YAML) names, for each canonical column, its source column and how to parse it;
the market's own listing attributes (`attributes:`, each with a `kind`: number or category),
kept with their missing values; rows to drop and why; source columns deliberately not used.
Missing values in a required column drop the row with a counted reason; a value present
but unparsable stops the import with one line naming the file, row and column.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from autovalue.market_attributes import MarketAttribute, MarketUnknown, check_name, parse_attributes
from autovalue.schema import CANONICAL_COLUMNS, ENUM_COLUMNS, REQUIRED_COLUMNS
from market.io import write_source

MAPPINGS_DIR = Path(__file__).parent / "mappings"
# The listing schema's required fields, and the asking price: an imported row is an asking price
# (or a sale), the label; a row without one teaches a model nothing. The rest may be missing.
REQUIRED = [*(name for name in REQUIRED_COLUMNS if name != "listing_id"), "asking_price"]
# What a column the mapping does not name becomes.
UNMAPPED_DEFAULTS = {"fuel": "other", "transmission": "other", "body_type": "other",
                     "seller_type": "other", "region": "unknown", "listed_at": pd.NaT, "sold_at": pd.NaT}
_NUMBER = re.compile(r"^\s*-?\d[\d,]*(\.\d+)?\s*$")
# A number followed by its unit ("1248 CC", "23.4 kmpl"); either part may be missing.
_NUMBER_AND_UNIT = re.compile(r"^\s*(?P<number>-?\d[\d,]*(?:\.\d+)?)?\s*(?P<unit>\S.*?)?\s*$")


class ImportFailed(Exception):
    """One line saying what is wrong, where: file, row and column."""


@dataclass
class ImportReport:
    source: str
    rows_read: int
    rows_written: int
    duplicates_removed: int
    dropped: Counter = field(default_factory=Counter)
    has_listing_dates: bool = False

    def lines(self) -> list[str]:
        out = [f"{self.source}: read {self.rows_read:,} rows, wrote {self.rows_written:,}, "
               f"removed {self.duplicates_removed:,} duplicates"]
        out += [f"  dropped {count:,}: {reason}" for reason, count in self.dropped.most_common()]
        if not self.has_listing_dates:
            out.append("  no listing dates: marked as undated (time-based splits unavailable)")
        return out


def available_mappings() -> list[str]:
    return sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml"))


def load_mapping(name_or_path: str) -> dict:
    path = Path(name_or_path)
    if not path.suffix:
        path = MAPPINGS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ImportFailed(f"mapping {name_or_path!r} not found (built-in: {', '.join(available_mappings())})")
    mapping = yaml.safe_load(path.read_text())
    if not isinstance(mapping, dict) or "columns" not in mapping or "name" not in mapping:
        raise ImportFailed(f"{path}: a mapping needs 'name' and 'columns'")
    return mapping


def _read_csv(path: Path, encoding: str) -> pd.DataFrame:
    if not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    raw = path.read_bytes()
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ImportFailed(f"{path}: row {line}: not valid {encoding} (byte 0x{raw[error.start]:02x}); "
                           f"set 'encoding:' in the mapping") from None
    if not raw.strip():
        raise ImportFailed(f"{path}: the file is empty")
    try:
        return pd.read_csv(path, dtype=str, encoding=encoding, skipinitialspace=True)
    except pd.errors.ParserError as error:
        raise ImportFailed(f"{path}: not a readable CSV: {str(error).strip()}") from None


def _fail_unparsable(path: Path, frame: pd.DataFrame, bad: pd.Series, source: str, what: str):
    index = bad[bad].index[0]
    value = frame.at[index, source]
    raise ImportFailed(f"{path}: row {index + 2}: column {source!r}: cannot parse {value!r} as {what}")


def _column(path: Path, frame: pd.DataFrame, target: str, spec: dict) -> pd.Series:
    if "value" in spec:
        return pd.Series(spec["value"], index=frame.index, dtype=object)
    source = spec["from"]
    text = frame[source].str.strip()
    present = text.notna() & (text != "")
    parse = spec.get("parse", "text")
    if parse in ("word", "words_from"):
        words = text.str.split()
        index = int(spec.get("index", 0))
        text = words.str[index] if parse == "word" else words.str[index:].str.join(" ")
    if parse == "number" and "units" in spec:
        return _number_with_unit(path, frame, source, text, present, spec)
    if parse in ("number", "int"):
        bad = present & ~text.str.match(_NUMBER, na=False)
        if bad.any():
            _fail_unparsable(path, frame, bad, source, "a number")
        values = pd.to_numeric(text.where(present).str.replace(",", ""), errors="coerce") * spec.get("scale", 1)
        if parse == "int":
            whole = values.dropna() % 1 == 0
            if not whole.all():
                _fail_unparsable(path, frame, present & ~(values % 1 == 0), source, "a whole number")
        return values
    if parse == "date":
        dates = pd.to_datetime(text.where(present), format=spec.get("format"), errors="coerce", utc=True)
        bad = present & dates.isna()
        if bad.any():
            _fail_unparsable(path, frame, bad, source, f"a date ({spec.get('format', 'ISO')})")
        return dates
    if spec.get("case") == "title":
        text = text.str.title()
    if "map" in spec:
        mapping = {str(k): v for k, v in spec["map"].items()}
        mapped = text.map(mapping)
        bad = present & mapped.isna()
        if bad.any():
            _fail_unparsable(path, frame, bad, source, f"{target} (known: {', '.join(mapping)})")
        text = mapped
    if "missing" in spec:
        text = text.where(present, spec["missing"])
    return text.where(present | ("missing" in spec))


def _number_with_unit(path: Path, frame: pd.DataFrame, source: str, text: pd.Series, present: pd.Series,
                      spec: dict) -> pd.Series:
    """"1248 CC" with `units: {CC: 1}` -> 1248.0; a unit not listed stops the import, a unit
    without a number is a missing value."""
    units = {str(k): float(v) for k, v in spec["units"].items()}
    parts = text.where(present).str.extract(_NUMBER_AND_UNIT)
    unknown = present & parts["unit"].notna() & ~parts["unit"].isin(list(units))
    if unknown.any():
        _fail_unparsable(path, frame, unknown, source, f"a number in one of the units {', '.join(units)}")
    numbers = pd.to_numeric(parts["number"].str.replace(",", ""), errors="coerce")
    return numbers * parts["unit"].map(units).fillna(1.0) * spec.get("scale", 1)


def declared_attributes(mapping: dict) -> tuple[MarketAttribute, ...]:
    """The mapping's `attributes:` section as the market's declared attributes; one line on a bad one."""
    section = mapping.get("attributes") or {}
    if not isinstance(section, dict):
        raise ImportFailed(f"mapping {mapping['name']!r}: 'attributes' must map names to rules")
    try:
        return parse_attributes([{"name": name, "kind": (rule or {}).get("kind")} for name, rule in section.items()],
                                reserved=set(CANONICAL_COLUMNS))
    except (MarketUnknown, AttributeError) as error:
        raise ImportFailed(f"mapping {mapping['name']!r}: {error}") from None


def _valid_enums(canonical: pd.DataFrame, mapping: dict) -> None:
    for column, enum in ENUM_COLUMNS.items():
        if column not in canonical:
            continue
        allowed = {member.value for member in enum}
        unknown = set(canonical[column].dropna()) - allowed
        if unknown:
            raise ImportFailed(f"mapping {mapping['name']!r}: column {column!r} maps to unknown "
                               f"values {sorted(unknown)} (allowed: {sorted(allowed)})")


def import_csv(path: Path, mapping_ref: str, raw_dir: Path) -> ImportReport:
    mapping = load_mapping(mapping_ref)
    name = mapping["name"]
    try:
        check_name(name, "market source")
    except MarketUnknown as error:
        raise ImportFailed(f"mapping {name!r}: {error}") from None
    attributes = declared_attributes(mapping)
    frame = _read_csv(path, mapping.get("encoding", "utf-8"))
    specs: dict = mapping["columns"]
    attribute_specs: dict = {a.name: mapping["attributes"][a.name] for a in attributes}
    missing = sorted({s["from"] for s in [*specs.values(), *attribute_specs.values()] if "from" in s}
                     - set(frame.columns)
                     | {r["source"] for r in mapping.get("drop_rows", []) if "source" in r} - set(frame.columns))
    if missing:
        raise ImportFailed(f"{path}: missing column(s) {missing} required by mapping {name!r}")
    for column in REQUIRED:
        if column not in specs:
            raise ImportFailed(f"mapping {name!r}: no rule for required column {column!r}")

    report = ImportReport(source=name, rows_read=len(frame), rows_written=0, duplicates_removed=0,
                          has_listing_dates="listed_at" in specs)
    canonical = pd.DataFrame(index=frame.index)
    for column in CANONICAL_COLUMNS:
        if column in specs:
            canonical[column] = _column(path, frame, column, specs[column])
    _valid_enums(canonical, mapping)
    for attribute in attributes:  # kept with their missing values: XGBoost takes missing as a value
        spec = dict(attribute_specs[attribute.name])
        if attribute.kind == "number":
            spec.setdefault("parse", "number")
        values = _column(path, frame, attribute.name, spec)
        canonical[attribute.name] = (pd.to_numeric(values, errors="coerce").astype("float64")
                                     if attribute.kind == "number" else values.astype(object))
    canonical["listing_id"] = [f"{name}-{line}" for line in frame.index + 2]

    keep = pd.Series(True, index=frame.index)
    for rule in mapping.get("drop_rows", []):
        values = frame[rule["source"]].str.strip() if "source" in rule else canonical[rule["column"]]
        hit = values == rule["equals"] if "equals" in rule else values < rule["below"]
        hit = keep & hit.fillna(False).astype(bool)
        report.dropped[rule["reason"]] += int(hit.sum())
        keep &= ~hit
    for column in REQUIRED:
        hit = keep & canonical[column].isna()
        if hit.any():
            report.dropped[f"missing {column}"] += int(hit.sum())
            keep &= ~hit
    hit = keep & (canonical["year"] > pd.Timestamp.now().year + 1)
    if hit.any():
        report.dropped["model year in the future"] += int(hit.sum())
        keep &= ~hit

    if mapping.get("dedupe"):
        # Exact duplicate rows of the source (all columns) would leak across a random split.
        duplicated = keep & frame.duplicated(keep="first") & frame.index.isin(frame[keep].index)
        report.duplicates_removed = int(duplicated.sum())
        keep &= ~duplicated

    result = canonical[keep].copy()
    for column in CANONICAL_COLUMNS:
        if column not in result:
            result[column] = UNMAPPED_DEFAULTS.get(column, np.nan)
    result["year"] = result["year"].astype("int32")
    for column in ("mileage_km", "asking_price", "sold_price"):
        result[column] = result[column].astype("float64")
    result["listed_at"] = pd.to_datetime(result["listed_at"], utc=True)
    result["sold_at"] = pd.to_datetime(result["sold_at"], utc=True)
    if result.empty:
        raise ImportFailed(f"{path}: no rows left after dropping ({dict(report.dropped)})")
    report.rows_written = len(result)
    meta = {
        "source": name, "kind": "imported", "file": str(path), "market": mapping.get("market"),
        "currency": mapping.get("currency"), "has_listing_dates": report.has_listing_dates,
        "attributes": [a.declared() for a in attributes],
        "rows_read": report.rows_read, "rows_written": report.rows_written,
        "duplicates_removed": report.duplicates_removed, "dropped": dict(report.dropped),
        "imported_at": datetime.now(timezone.utc).isoformat(),
    }
    write_source(raw_dir, name, [result], meta, [a.name for a in attributes])
    return report
