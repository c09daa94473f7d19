"""The baselines (linear regression, random forest) on a run's split, and on a champion
trained without them.

They show what XGBoost is worth (README "Results", the dashboard's Model page); the champion
decision never reads them: it compares XGBoost with the champion on the same holdout. So
`autovalue demo` trains its first champion without them (they were most of that training's
time) and fits them afterwards, in the background, on the same split (`autovalue baselines`);
their metrics join the champion's MLflow run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from autovalue.settings import Settings
from training import candidates, tracking
from training.dataset import TrainingData
from training.fingerprint import data_fingerprint
from training.metrics import price_metrics
from training.splits import Split, make_split

NAMES = ("linear_regression", "random_forest")


def fit_baselines(settings: Settings, seed: int, data: TrainingData, frame: pd.DataFrame, parts: Split,
                  y_log: np.ndarray) -> dict[str, dict[str, float]]:
    """Each baseline fitted on every row before the holdout, judged on the holdout."""
    holdout = frame.iloc[parts.holdout]
    actual = frame["label"].to_numpy(dtype=float)[parts.holdout]
    metrics = {}
    for baseline in candidates.baselines(settings, seed, data.features, data.categorical):
        fit_rows = parts.before_holdout()
        if baseline.max_rows and len(fit_rows) > baseline.max_rows:
            fit_rows = np.sort(np.random.default_rng(seed).choice(fit_rows, baseline.max_rows, replace=False))
        baseline.fit(frame.iloc[fit_rows], y_log[fit_rows])
        metrics[baseline.name] = price_metrics(actual, np.exp(baseline.predict_log(holdout)))
        metrics[baseline.name]["fit_rows"] = len(fit_rows)
    return metrics


class NotApplicable(LookupError):
    """No champion, or data or settings that would not reproduce the champion's split."""


def missing_baselines(settings: Settings) -> tuple[str, str] | None:
    """(champion version, its run id) when the champion's run has no baseline metrics, else None."""
    from training.tracking import bundle_version, champion_version

    client = tracking.mlflow_client(settings)
    current = champion_version(client, settings)
    if current is None:
        raise NotApplicable("no champion yet")
    metrics = client.get_run(current.run_id).data.metrics
    if all(f"{name}_mape" in metrics for name in NAMES):
        return None
    return bundle_version(current), current.run_id


def add_to_champion(settings: Settings, data: TrainingData) -> dict[str, dict[str, float]]:
    """Fit the baselines on the champion's own split of `data` (the data it was trained on) and
    log their metrics to its MLflow run."""
    import mlflow

    from training.champion import load_registered_bundle
    from training.tracking import champion_version

    client = tracking.mlflow_client(settings)
    current = champion_version(client, settings)
    if current is None:
        raise NotApplicable("no champion yet")
    meta = load_registered_bundle(settings, client, current).metadata
    if meta.get("data_fingerprint") != data_fingerprint(data):
        raise NotApplicable(f"the data differs from what champion v{current.version} was trained on")
    frame = data.frame.reset_index(drop=True)
    parts = make_split(frame, meta["split"]["split"], settings.train_holdout_fraction,
                       settings.train_calibration_fraction, settings.train_early_stopping_fraction, meta["seed"])
    if parts.describe(frame["event_timestamp"]) != meta["split"]:
        raise NotApplicable(f"these settings do not reproduce champion v{current.version}'s split")
    metrics = fit_baselines(settings, meta["seed"], data, frame, parts, np.log(frame["label"].to_numpy(dtype=float)))
    with mlflow.start_run(run_id=current.run_id):
        mlflow.log_metrics({f"{model}_{name}": value for model, values in metrics.items()
                            for name, value in values.items() if value is not None and np.isfinite(value)})
        mlflow.set_tag("baselines", "fitted after the run (autovalue baselines)")
    return metrics
