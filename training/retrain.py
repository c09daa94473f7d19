"""`autovalue retrain`: the loop closed. A challenger trained on the landed history (the market's
history and the stream's outcomes) is judged against the champion on the newest sales neither
of them trained on, and becomes champion only when it values them better.

Steps: the landed history (training.landed_history, kept as data/raw/landed.parquet) -> the
market's statistics rebuilt from it under the market's own Feast objects (so the challenger is
served through the same feature service the market feed keeps fresh) -> a point-in-time dataset
-> the real trainer, time split with the newest `retrain_judged_share` of the streamed sales as
holdout (it learns from the older stream), without its own champion decision -> both models value
the challenger's holdout rows the champion never trained on (from its own holdout's start on) -> the
champion moves once, as `autovalue champion set` moves it, and only when the challenger is clearly
better (a paired bootstrap: lower MAPE alone promoted a 0.01-point gain, noise) -> the decision on
the challenger's MLflow run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from autovalue.model_bundle import ModelBundle
from autovalue.champion_pointer import read_champion
from autovalue.settings import Settings
from training.landed_history import LandedHistory, landed_history, write_landed_history


class TooFewOutcomes(ValueError):
    """One line: how many sales have landed and how many a retrain needs."""


@dataclass(frozen=True)
class Judgement:
    promote: bool
    reason: str
    champion: str | None
    challenger_mape: float
    champion_mape: float | None
    rows: int  # holdout sales both models valued


@dataclass(frozen=True)
class Retrained:
    history: LandedHistory
    challenger: str
    run_id: str
    dataset_rows: int
    judgement: Judgement
    seconds: float

    def line(self) -> str:
        j = self.judgement
        champion = f"champion {j.champion} {j.champion_mape:.2%}" if j.champion_mape is not None else (
            f"champion {j.champion or 'none'}")
        decision = f"promoted: {self.challenger} is champion" if j.promote else f"kept {j.champion}"
        return (f"challenger {self.challenger} MAPE {j.challenger_mape:.2%} vs {champion} on the {j.rows:,} newest "
                f"sales neither trained on: {decision} ({j.reason}; {self.history.sold:,} streamed sales landed, "
                f"{self.dataset_rows:,} training rows, {self.seconds:.0f} s)")


def check_enough(settings: Settings, history: LandedHistory) -> None:
    if history.sold < settings.retrain_min_outcomes:
        raise TooFewOutcomes(f"{history.sold:,} streamed sales have landed, a retrain needs at least "
                             f"{settings.retrain_min_outcomes:,} (AUTOVALUE_RETRAIN_MIN_OUTCOMES)")


def retrain(settings: Settings, progress: bool = False) -> Retrained:
    from feature_repo.pipeline import build_features
    from training.champion import make_champion
    from training.dataset import build_dataset
    from training.pipeline import train

    started = time.perf_counter()
    history = landed_history(settings)
    check_enough(settings, history)  # before anything is written or trained
    write_landed_history(settings, history)
    source = settings.market_source
    # Offline only: written online, the landed history's statistics (listings with an outcome
    # alone) replaced the feed's for a while, and the loop arm's windows around each retrain
    # were worse than the live arm's with the same model (bench/README.md, "Closed loop").
    build_features(settings, history.frame, progress=progress, source=source, online=False)
    data = build_dataset(settings, source, raw=history.frame)
    # No baselines: they were most of a training's time and decide nothing (`autovalue baselines` adds them).
    judged = holdout_fraction(settings, history, len(data.frame))
    result = train(settings.model_copy(update={"train_holdout_fraction": judged}), data, split="time",
                   progress=progress, decide_champion=False, baselines=False)
    judgement = judge(settings, result.bundle, result.holdout)
    if judgement.promote:
        make_champion(settings, result.version)  # the alias and models/champion.json, once
    _record(settings, result.run_id, judgement)
    return Retrained(history, result.version, result.run_id, len(data.frame), judgement,
                     time.perf_counter() - started)


def holdout_fraction(settings: Settings, history: LandedHistory, rows: int) -> float:
    """The share of the dataset's rows that is the newest `retrain_judged_share` of the streamed
    sales (the time split cuts at that share of rows, oldest to newest)."""
    return min(settings.retrain_judged_share * history.sold / max(rows, 1), settings.train_holdout_fraction)


def judge(settings: Settings, challenger: ModelBundle, holdout: pd.DataFrame) -> Judgement:
    """Challenger and champion on the same feature rows: the challenger's holdout from the
    champion's own holdout start on (rows before it the champion was fitted on)."""
    current = read_champion(settings.models_dir)
    if current is None:
        mape = float(abs_pct_errors(challenger, holdout).mean())
        return Judgement(True, "no champion yet", None, mape, None, len(holdout))
    champion = ModelBundle.load(settings.models_dir / current)
    start = (champion.metadata.get("split") or {}).get("holdout_start")
    rows = holdout if start is None else holdout[pd.to_datetime(holdout["event_timestamp"], utc=True)
                                                 >= pd.Timestamp(start)]
    missing = [name for name in champion.row_features if name not in rows.columns]
    if missing or rows.empty:
        why = (f"the champion needs features this dataset lacks ({', '.join(missing[:5])})" if missing
               else f"no holdout sale is newer than the champion's training (holdout from {start})")
        return Judgement(False, why, current, float(abs_pct_errors(challenger, holdout).mean()), None, 0)
    challenger_ape, champion_ape = abs_pct_errors(challenger, rows), abs_pct_errors(champion, rows)
    challenger_mape, champion_mape = float(challenger_ape.mean()), float(champion_ape.mean())
    low = gain_lower_bound(champion_ape - challenger_ape, seed=settings.train_seed)
    clearly = low > 0
    reason = (f"MAPE {champion_mape - challenger_mape:+.2%} points better, 95% lower bound {low:+.2%}"
              f" ({'clearly better' if clearly else 'not clearly better'})")
    return Judgement(clearly, reason, current, challenger_mape, champion_mape, len(rows))


def gain_lower_bound(gains: np.ndarray, seed: int = 0, draws: int = 2_000) -> float:
    """The 2.5th percentile of the mean per-sale gain (champion APE - challenger APE) over
    bootstrap resamples of the sales: both models valued the same sales, so the pairing takes
    out what makes a sale hard for either."""
    rng = np.random.default_rng(seed)
    means = np.array([gains[rng.integers(0, gains.size, gains.size)].mean() for _ in range(draws)])
    return float(np.percentile(means, 2.5))


def abs_pct_errors(bundle: ModelBundle, rows: pd.DataFrame) -> np.ndarray:
    """Each row's |predicted - sold| / sold, `bundle` valuing the dataset rows as served."""
    predicted, _, _ = bundle.predict(bundle.encode(rows))
    actual = rows["label"].to_numpy(dtype=float)
    return np.abs(predicted - actual) / actual



def _record(settings: Settings, run_id: str, judgement: Judgement) -> None:
    from training.tracking import mlflow_client

    client = mlflow_client(settings)
    client.set_tag(run_id, "retrain", "landed history")
    client.set_tag(run_id, "promoted", str(judgement.promote).lower())
    client.set_tag(run_id, "champion_decision", judgement.reason)
    client.set_tag(run_id, "compared_with", judgement.champion or "none")
    client.log_metric(run_id, "challenger_mape", judgement.challenger_mape)
    client.log_metric(run_id, "compared_sales", judgement.rows)
    if judgement.champion_mape is not None and np.isfinite(judgement.champion_mape):
        client.log_metric(run_id, "champion_mape", judgement.champion_mape)
