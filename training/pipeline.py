"""`autovalue train`: baselines and XGBoost on a point-in-time dataset, tracked and exported.

One run = split -> baselines -> XGBoost (early-stopped on the newest training slice) ->
conformal interval on the calibration period -> holdout metrics and plots -> MLflow run and
registry version v<N> -> models/v<N>/ and the BentoML store -> `champion` alias if it wins.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from tqdm import tqdm

from autovalue.model_bundle import ModelBundle
from autovalue.settings import Settings
from autovalue.valuation import Confidence
from training import candidates, champion, tracking
from training.baselines import fit_baselines
from training.calibration import asking_rows, calibrate, deal_shares, known_cars
from training.dataset import TrainingData
from training.export import export_bundle
from training.fingerprint import data_fingerprint, feature_service_version
from training.metrics import interval_metrics, price_metrics
from training.plots import write_plots
from training.splits import SplitKind, make_split
from training.structures import fit, structures

log = logging.getLogger(__name__)
STEPS = ["split", "baselines", "xgboost", "interval", "refit", "plots", "mlflow", "export", "champion"]


@dataclass
class TrainingResult:
    version: str
    bundle: ModelBundle
    metrics: dict[str, dict[str, float]]
    decision: champion.Decision
    run_id: str
    directory: Path
    bento_tag: str
    seconds: dict[str, float]  # wall time per step
    holdout: pd.DataFrame | None = None  # the rows that judged it (the newest slice of a time split)

    @property
    def promoted(self) -> bool:
        return self.decision.promote


@dataclass
class _Evaluated:
    bundle: ModelBundle
    metrics: dict[str, dict[str, float]]
    holdout: pd.DataFrame
    holdout_predicted: np.ndarray


class _Steps:
    """One progress bar over the run's steps, showing the step in progress."""

    def __init__(self, progress: bool) -> None:
        self.bar = tqdm(total=len(STEPS), desc="train", unit="step", disable=not progress)
        self.seconds: dict[str, float] = {}  # per step, for the run's record and the benchmark
        self.current: str | None = None
        self.started_at = time.perf_counter()

    def __call__(self, name: str | None) -> None:
        now = time.perf_counter()
        if self.current is not None:
            self.seconds[self.current] = round(now - self.started_at, 3)
            self.bar.update(1)
        self.current, self.started_at = name, now
        if name:
            self.bar.set_postfix_str(name)

    def close(self) -> None:
        self(None)
        self.bar.close()


class _RoundProgress(xgb.callback.TrainingCallback):
    def __init__(self, bar: tqdm) -> None:
        super().__init__()
        self.bar = bar

    def after_iteration(self, model, epoch, evals_log) -> bool:
        self.bar.update(1)
        return False


def train(settings: Settings, data: TrainingData, split: SplitKind = "time", seed: int | None = None,
          force_promote: bool = False, progress: bool = True, baselines: bool = True,
          decide_champion: bool = True) -> TrainingResult:
    """`baselines=False`: no linear regression or random forest in this run (they can be added to
    it later: training.baselines); the champion decision does not use them. `decide_champion=False`:
    the champion is left alone, for a caller that judges the model on rows of its own (training.retrain)."""
    seed = settings.train_seed if seed is None else seed
    frame = _checked_frame(data, split)
    steps = _Steps(progress)
    steps("split")
    parts = make_split(frame, split, settings.train_holdout_fraction, settings.train_calibration_fraction,
                       settings.train_early_stopping_fraction, seed)
    evaluated = _fit_and_evaluate(settings, data, frame, parts, seed, steps, progress, baselines)
    bundle = evaluated.bundle
    bundle.metadata.update(
        split=parts.describe(frame["event_timestamp"]), seed=seed, data_fingerprint=data_fingerprint(data),
        feature_service=data.feature_service, feature_service_version=feature_service_version(data.feature_service),
        source=data.source, currency=data.currency, attributes=data.attributes, rows=len(frame),
        noise_floor_mape=data.noise_floor_mape, recency_half_life_days=settings.train_recency_half_life_days,
        trained_at=datetime.now(timezone.utc).isoformat(), xgboost_version=xgb.__version__,
    )
    steps("plots")
    with tempfile.TemporaryDirectory() as tmp:
        plots = write_plots(Path(tmp) / "plots", evaluated.holdout["label"].to_numpy(), evaluated.holdout_predicted,
                            evaluated.holdout, settings.report_residual_features, bundle.booster, data.currency)
        steps("mlflow")
        client = tracking.mlflow_client(settings)
        run_id, registered = _log_run(settings, client, bundle, plots)
        steps("export")
        bundle.metadata.update(version=f"v{registered}", mlflow_run_id=run_id,
                               registered_model={"name": settings.mlflow_model_name, "version": registered})
        directory, tag = export_bundle(settings, bundle)
        shutil.copytree(Path(tmp) / "plots", directory / "plots")
    _log_bundle(directory, run_id)
    steps("champion")
    if decide_champion:
        decision = champion.decide(settings, client, evaluated.holdout, evaluated.metrics["xgboost"]["mape"],
                                   force_promote)
        if decision.promote:
            champion.set_champion(client, settings, registered)
        _tag_decision(client, settings, run_id, registered, decision)
    else:
        decision = champion.Decision(False, "left to the caller")
    if not baselines:
        client.set_tag(run_id, "baselines", "not fitted in this run")
    steps.close()
    tracking.log_step_seconds(run_id, steps.seconds)
    log.info("trained %s: %s", bundle.version, decision.reason)
    return TrainingResult(bundle.version, bundle, evaluated.metrics, decision, run_id, directory, tag, steps.seconds,
                          evaluated.holdout)


def _checked_frame(data: TrainingData, split: SplitKind) -> pd.DataFrame:
    if split == "time" and not data.has_dates:
        raise ValueError(f"{data.source}: the data has no dates; use --split random")
    frame = data.frame.reset_index(drop=True)
    bad = ~(pd.to_numeric(frame["label"], errors="coerce") > 0)
    if bad.any():
        raise ValueError(f"{data.source}: {int(bad.sum())} rows have a missing or non-positive label")
    missing = [f for f in data.features if f not in frame.columns]
    if missing:
        raise ValueError(f"{data.source}: features missing from the frame: {missing}")
    return frame


def _fit_and_evaluate(settings, data, frame, parts, seed, steps, progress, baselines) -> _Evaluated:
    y_log = np.log(frame["label"].to_numpy(dtype=float))
    actual = frame["label"].to_numpy(dtype=float)[parts.holdout]
    holdout = frame.iloc[parts.holdout]

    # Everything older than the holdout: what the final models learn from. The market drifts,
    # so the newest months before the holdout are the most valuable rows of all.
    before_holdout = parts.before_holdout()

    steps("baselines")
    metrics = fit_baselines(settings, seed, data, frame, parts, y_log) if baselines else {}

    steps("xgboost")
    # Each model orders the levels by the prices of the rows it learns from, and knows no other
    # level: one first seen later is missing to it, as an unseen level is to the service.
    probe_levels = candidates.categorical_levels(frame.iloc[parts.train], data.categorical, y_log[parts.train])
    levels = candidates.categorical_levels(frame.iloc[before_holdout], data.categorical, y_log[before_holdout])
    train_rows, stop_rows = frame.iloc[parts.train], frame.iloc[parts.early_stopping]
    probes = []
    with tqdm(total=settings.xgb_max_rounds, desc="xgboost", unit="round", leave=False,
              disable=not progress) as bar:
        # Round count by early stopping on the newest training slice, for each way of taking
        # the market (training.structures); the better one there goes on...
        for structure in structures(data, train_rows):
            bar.reset()
            probes.append(fit(settings, seed, data, structure, train_rows, y_log[parts.train], probe_levels,
                              stop=stop_rows, y_stop=y_log[parts.early_stopping], callbacks=[_RoundProgress(bar)]))
    probe = min(probes, key=lambda fitted: fitted.validation_rmse)

    steps("interval")
    # ...to the intervals (one per confidence level) and the deal bands by conformal calibration
    # on the period after it (split conformal: distribution-free, and calibrating on later data
    # than training respects drift)...
    calibrated = calibrate(probe.bundle, frame.iloc[parts.calibration], y_log[parts.calibration],
                           asking_rows(data, frame, parts, "calibration"), settings.train_interval_coverage)
    interval = calibrated["interval_by_confidence"][Confidence.high.value]

    steps("refit")
    # ...then the same rounds again on everything before the holdout, which the holdout judges.
    final = fit(settings, seed, data, probe.structure, frame.iloc[before_holdout], y_log[before_holdout], levels,
                rounds=probe.booster.num_boosted_rounds())
    # Everything below scores through the bundle, exactly as the service will.
    booster = final.booster
    bundle = ModelBundle(booster, {"version": None, **final.bundle.metadata, "target": "log(price)",
                                   "structures": {f.structure.name: round(f.validation_rmse, 5) for f in probes},
                                   "params": candidates.xgboost_params(settings, seed),
                                   "rounds": booster.num_boosted_rounds(), "interval": interval, **calibrated,
                                   "known_cars": known_cars(frame.iloc[before_holdout])})
    predicted, lower, upper = bundle.predict(bundle.encode(holdout))
    metrics["xgboost"] = {**price_metrics(actual, predicted), **interval_metrics(actual, lower, upper),
                          **deal_shares(bundle, asking_rows(data, frame, parts, "holdout"))}
    if data.noise_floor_mape:
        metrics["xgboost"]["mape_over_noise_floor"] = metrics["xgboost"]["mape"] / data.noise_floor_mape
    bundle.metadata["metrics"] = metrics
    return _Evaluated(bundle, metrics, holdout, predicted)


def _log_run(settings: Settings, client, bundle: ModelBundle, plots: list[Path]) -> tuple[str, str]:
    """One MLflow run: parameters, metrics, lineage tags, plots and the registered model."""
    import mlflow

    meta = bundle.metadata
    with mlflow.start_run() as run:
        mlflow.log_params({**{f"xgb_{k}": v for k, v in meta["params"].items()}, "rounds": meta["rounds"],
                           "split": meta["split"]["split"], "seed": meta["seed"], "rows": meta["rows"],
                           "features": len(meta["features"]), "feature_service": meta["feature_service"],
                           "feature_service_version": meta["feature_service_version"],
                           "data_fingerprint": meta["data_fingerprint"], "source": meta["source"],
                           "interval_method": meta["interval"]["method"], "structure": meta["structure"],
                           "recency_half_life_days": meta.get("recency_half_life_days")})
        mlflow.set_tags({"feature_service": meta["feature_service"], "data_fingerprint": meta["data_fingerprint"],
                         "source": meta["source"]})
        mlflow.log_metrics({f"{model}_{name}": value for model, values in meta["metrics"].items()
                            for name, value in values.items() if value is not None and np.isfinite(value)})
        mlflow.log_metrics({f"validation_rmse_{name}": rmse for name, rmse in meta["structures"].items()})
        mlflow.log_metrics({"interval_lower_log_offset": meta["interval"]["lower_log_offset"],
                            "interval_upper_log_offset": meta["interval"]["upper_log_offset"]})
        if meta.get("noise_floor_mape"):
            mlflow.log_metric("noise_floor_mape", meta["noise_floor_mape"])
        mlflow.log_dict(meta["split"], "split.json")
        for path in plots:
            mlflow.log_artifact(str(path), "plots")
    return run.info.run_id, _register_bundle(settings, client, run.info.run_id)


def _register_bundle(settings: Settings, client, run_id: str) -> str:
    """The registered model version is the run's bundle (model.ubj + metadata.json, logged once
    exported: _log_bundle): one artefact, which models/<version>/ and the BentoML store copy. The
    version number comes first because the bundle's metadata names it."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(settings.mlflow_model_name)
    except MlflowException:
        client.create_registered_model(settings.mlflow_model_name)
    version = client.create_model_version(settings.mlflow_model_name, f"runs:/{run_id}/{tracking.BUNDLE_ARTIFACTS}",
                                          run_id=run_id)
    return str(version.version)


def _log_bundle(directory: Path, run_id: str) -> None:
    import mlflow

    with mlflow.start_run(run_id=run_id):
        for name in ("model.ubj", "metadata.json"):
            mlflow.log_artifact(str(directory / name), tracking.BUNDLE_ARTIFACTS)


def _tag_decision(client, settings: Settings, run_id: str, registered: str, decision: champion.Decision) -> None:
    client.set_tag(run_id, "champion_decision", decision.reason)
    client.set_tag(run_id, "promoted", str(decision.promote).lower())
    client.set_model_version_tag(settings.mlflow_model_name, registered, "promoted_at_training",
                                 str(decision.promote).lower())
    if decision.champion_mape is not None:
        client.set_tag(run_id, "champion_mape_on_this_holdout", f"{decision.champion_mape:.6f}")
