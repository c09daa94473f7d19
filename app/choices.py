"""Choices for the valuation form: brands, their models (with body type and the transmission and
fuel most of them are sold with), regions.

From the raw market data the features are built on (so the form offers what the model has
seen), falling back to the simulated market's catalog when that data is not there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from autovalue.parquet import read_parquet
from market.catalog import REGIONS, catalog
from market.io import read_source


@dataclass(frozen=True)
class Choices:
    models: pd.DataFrame  # brand, model, body_type, transmission, fuel (the most common), listings
    regions: list[str]
    source: str

    def brands(self) -> list[str]:
        return sorted(self.models["brand"].unique())

    def most_listed_brand(self) -> str:
        return str(self.models.groupby("brand")["listings"].sum().idxmax())

    def models_of(self, brand: str) -> list[str]:
        return sorted(self.models.loc[self.models["brand"] == brand, "model"])

    def _of(self, brand: str, model: str, column: str, default: str) -> str:
        row = self.models[(self.models["brand"] == brand) & (self.models["model"] == model)]
        return str(row[column].iloc[0]) if len(row) and pd.notna(row[column].iloc[0]) else default

    def body_type(self, brand: str, model: str) -> str:
        return self._of(brand, model, "body_type", "other")

    def transmission(self, brand: str, model: str) -> str:
        """The transmission most listings of this model have (an automatic-only model: automatic)."""
        return self._of(brand, model, "transmission", "manual")

    def fuel(self, brand: str, model: str) -> str:
        return self._of(brand, model, "fuel", "petrol")


def _mode(values: pd.Series):
    values = values.dropna()
    return values.mode().iat[0] if len(values) else None


@st.cache_data(show_spinner=False, ttl=600)
def _from_raw(path: str, mtime: float) -> tuple[pd.DataFrame, list[str]]:
    raw = read_source(Path(path).parent, Path(path).stem)[["brand", "model", "body_type", "transmission", "fuel",
                                                           "region"]]
    models = raw.groupby(["brand", "model"]).agg(
        body_type=("body_type", _mode), transmission=("transmission", _mode), fuel=("fuel", _mode),
        listings=("region", "size")).reset_index()
    return models, sorted(raw["region"].dropna().astype(str).unique())


def _from_catalog() -> pd.DataFrame:
    models = catalog()
    return pd.DataFrame({
        "brand": models["brand"], "model": models["model"], "body_type": models["body_type"],
        "transmission": ["automatic" if share > 0.5 else "manual" for share in models["automatic_share"]],
        "fuel": models["fuels"].str.split("|").str[0], "listings": models["popularity"]})


@st.cache_data(show_spinner=False, ttl=600)
def _levels(path: str, mtime: float, names: tuple[str, ...], most: int) -> dict[str, list[str]]:
    raw = read_parquet(path, columns=list(names))
    return {name: [str(v) for v in raw[name].value_counts().index[:most]] for name in names}


def category_levels(raw_dir: Path, source: str, names: list[str], most: int = 50) -> dict[str, list[str]]:
    """The most listed values of a market's own category attributes (none when unreadable)."""
    path = raw_dir / f"{source}.parquet"
    try:
        return _levels(str(path), path.stat().st_mtime, tuple(names), most) if names else {}
    except Exception:  # noqa: BLE001 — the form still asks, with free text
        return {}


def form_choices(raw_dir: Path, source: str) -> Choices:
    path = raw_dir / f"{source}.parquet"
    if path.exists():
        try:
            models, regions = _from_raw(str(path), path.stat().st_mtime)
            return Choices(models, regions, f"market data ({path.name})")
        except Exception:  # noqa: BLE001 — an unreadable file falls back to the catalog
            pass
    return Choices(_from_catalog(), sorted(REGIONS), "the built-in catalog")
