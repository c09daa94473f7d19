"""Choices for the valuation form: brands, their models (with body type), regions.

From the raw market data the features are built on (so the form offers what the model has
seen), falling back to the simulated market's catalog when that data is not there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from market.catalog import REGIONS, catalog
from market.io import read_source


@dataclass(frozen=True)
class Choices:
    models: pd.DataFrame  # brand, model, body_type, listings
    regions: list[str]
    source: str

    def brands(self) -> list[str]:
        return sorted(self.models["brand"].unique())

    def most_listed_brand(self) -> str:
        return str(self.models.groupby("brand")["listings"].sum().idxmax())

    def models_of(self, brand: str) -> list[str]:
        return sorted(self.models.loc[self.models["brand"] == brand, "model"])

    def body_type(self, brand: str, model: str) -> str:
        row = self.models[(self.models["brand"] == brand) & (self.models["model"] == model)]
        return str(row["body_type"].iloc[0]) if len(row) else "other"


@st.cache_data(show_spinner=False, ttl=600)
def _from_raw(path: str, mtime: float) -> tuple[pd.DataFrame, list[str]]:
    raw = read_source(Path(path).parent, Path(path).stem)[["brand", "model", "body_type", "region"]]
    models = (raw.groupby(["brand", "model"])["body_type"]
              .agg(lambda s: s.mode().iat[0]).reset_index())
    models["listings"] = raw.groupby(["brand", "model"]).size().to_numpy()
    return models, sorted(raw["region"].dropna().astype(str).unique())


def form_choices(raw_dir: Path, source: str) -> Choices:
    path = raw_dir / f"{source}.parquet"
    if path.exists():
        try:
            models, regions = _from_raw(str(path), path.stat().st_mtime)
            return Choices(models, regions, f"market data ({path.name})")
        except Exception:  # noqa: BLE001 — an unreadable file falls back to the catalog
            pass
    models = catalog()[["brand", "model", "body_type", "popularity"]].rename(columns={"popularity": "listings"})
    return Choices(models, sorted(REGIONS), "the built-in catalog")
