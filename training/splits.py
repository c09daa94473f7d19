"""Train / calibration / holdout splits: by time for dated data, seeded random for undated data.

Time split, oldest to newest: train | calibration | holdout. The model only ever learns from
the past of what it is judged on, and the interval is calibrated on the period just before the
holdout, so drift between train and holdout shows up in the calibration residuals too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

SplitKind = Literal["time", "random"]


@dataclass(frozen=True)
class Split:
    kind: SplitKind
    train: np.ndarray  # row positions, oldest first for a time split
    early_stopping: np.ndarray  # the newest slice of the training part (not trained on)
    calibration: np.ndarray
    holdout: np.ndarray

    def before_holdout(self) -> np.ndarray:
        """Every row older than the holdout: what the final models learn from."""
        return np.sort(np.concatenate([self.train, self.early_stopping, self.calibration]))

    def describe(self, timestamps: pd.Series | None = None) -> dict:
        out = {"split": self.kind, "rows_train": len(self.train), "rows_early_stopping": len(self.early_stopping),
               "rows_calibration": len(self.calibration), "rows_holdout": len(self.holdout)}
        if self.kind == "time" and timestamps is not None and len(self.holdout):
            out["holdout_start"] = str(timestamps.iloc[self.holdout].min())
            out["holdout_end"] = str(timestamps.iloc[self.holdout].max())
            out["calibration_start"] = str(timestamps.iloc[self.calibration].min())
        return out


def make_split(frame: pd.DataFrame, kind: SplitKind, holdout: float, calibration: float,
               early_stopping: float, seed: int) -> Split:
    if kind == "time":
        order = _time_order(frame["event_timestamp"])
        cuts = _time_cuts(frame["event_timestamp"].iloc[order], [1 - holdout - calibration, 1 - holdout])
    elif kind == "random":
        order = np.random.default_rng(seed).permutation(len(frame))
        cuts = [round(len(frame) * (1 - holdout - calibration)), round(len(frame) * (1 - holdout))]
    else:
        raise ValueError(f"unknown split {kind!r} (time or random)")
    fit, calib, hold = np.split(order, cuts)
    stop = len(fit) - round(len(fit) * early_stopping)
    if kind == "time":
        stop = _time_cuts(frame["event_timestamp"].iloc[fit], [stop / max(len(fit), 1)])[0]
    if min(stop, len(fit) - stop, len(calib), len(hold)) == 0:
        raise ValueError(f"too few rows ({len(frame)}) for a {kind} split with these fractions")
    return Split(kind, fit[:stop], fit[stop:], calib, hold)


def _time_order(timestamps: pd.Series) -> np.ndarray:
    if timestamps.isna().any():
        raise ValueError(f"{int(timestamps.isna().sum())} rows have no event_timestamp: "
                         "a time split needs dated rows (use --split random for undated data)")
    return np.argsort(timestamps.to_numpy(), kind="stable")


def _time_cuts(sorted_times: pd.Series, fractions: list[float]) -> list[int]:
    """Cut positions at the given fractions of rows, moved so equal timestamps never straddle a cut."""
    values = sorted_times.to_numpy()
    positions = [min(max(round(len(values) * f), 0), len(values)) for f in fractions]
    return [int(np.searchsorted(values, values[p], side="left")) if p < len(values) else p for p in positions]
