"""The scorers of the group as their heartbeat rows tell it (table scorer_heartbeats): state,
partitions, lag and when each last made progress. From the database, so it shows while the
broker is down, which is when it matters most."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from app import display

# A row not updated for this many heartbeat intervals: its scorer is gone or hung.
SILENT_AFTER_INTERVALS = 3


def scorer_view(rows: pd.DataFrame, now: datetime, interval_s: float) -> pd.DataFrame:
    """One line per scorer, running ones first: Scorer, State, Partitions, Lag, Last progress,
    Heartbeat (both as ages)."""
    rows = rows.sort_values(["state", "updated_at"], ascending=[True, False])
    ages = lambda column: [(now - t).total_seconds() if pd.notna(t) else None for t in rows[column]]  # noqa: E731
    silent = [age is not None and age > SILENT_AFTER_INTERVALS * interval_s and state not in ("stopped", "stalled")
              for age, state in zip(ages("updated_at"), rows["state"])]
    return pd.DataFrame({
        "Scorer": rows["scorer_id"],
        "State": [f"silent ({state} when last heard)" if quiet else state
                  for state, quiet in zip(rows["state"], silent)],
        "Partitions": rows["partitions"].fillna("").replace("", "none"),
        "Lag": [f"{int(lag):,}" if pd.notna(lag) else "unknown" for lag in rows["lag"]],
        "Last progress": [f"{display.age(age)} ago" if age is not None else "–" for age in ages("last_progress_at")],
        "Heartbeat": [f"{display.age(age)} ago" if age is not None else "–" for age in ages("updated_at")],
    }).reset_index(drop=True)
