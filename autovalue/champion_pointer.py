"""The champion pointer: which exported version (models/<version>/) serves, and since when.

The champion's one record: written by training's promotion and `autovalue champion set`
(training.champion, which then moves MLflow's `champion` alias to mirror it); read by training,
the dashboard, the service at start-up and its rollout watch, so the service never needs MLflow. Kept apart from the model format so a reader of the pointer loads no XGBoost (`bentoml serve`
imports the service module in its arbiter process too).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

CHAMPION_POINTER = "champion.json"


def write_champion(models_dir: Path, version: str) -> None:
    """Point at `version`, stamped with the time (running services switch at it + a settle
    time, bento.rollout) and naming the champion it replaces (a service started later scores
    that one in shadow); written whole or not at all (rename)."""
    models_dir.mkdir(parents=True, exist_ok=True)
    current = read_champion_record(models_dir) or {}
    previous = current.get("version") if current.get("version") != version else current.get("previous")
    partial = models_dir / f"{CHAMPION_POINTER}.partial"
    partial.write_text(json.dumps({"version": version, "since": time.time(), "previous": previous}))
    partial.replace(models_dir / CHAMPION_POINTER)


def read_champion_record(models_dir: Path) -> dict | None:
    """{"version", "since" (epoch seconds), "previous" (the champion it replaced, or None); the
    last two absent in pointers written before them} or None."""
    try:
        record = json.loads((models_dir / CHAMPION_POINTER).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("version"), str) else None


def read_champion(models_dir: Path) -> str | None:
    record = read_champion_record(models_dir)
    return record["version"] if record else None
