"""Entity keys shared by the feature pipeline, the trainer and the service."""

from __future__ import annotations

import re

_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    return _SPACES.sub(" ", str(text).strip().lower())


def model_key(brand: str, model: str) -> str:
    """`Toyota`, ` Avanza ` -> `toyota|avanza`: one key per car model across all sources."""
    return f"{normalize(brand)}|{normalize(model)}"


def brand_key(brand: str) -> str:
    return normalize(brand)
