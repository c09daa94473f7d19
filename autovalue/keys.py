"""Entity keys shared by the feature pipeline, the trainer and the service."""

from __future__ import annotations

import re
from functools import lru_cache

_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=65_536)  # a few thousand distinct brands and models, asked for on every listing
def normalize(text: str) -> str:
    return _SPACES.sub(" ", str(text).strip().lower())


@lru_cache(maxsize=65_536)  # one string object per car model, shared by all its rows (a dataset's memory)
def model_key(brand: str, model: str) -> str:
    """`Toyota`, ` Avanza ` -> `toyota|avanza`: one key per car model across all sources."""
    return f"{normalize(brand)}|{normalize(model)}"


def brand_key(brand: str) -> str:
    return normalize(brand)
