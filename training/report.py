"""`autovalue report`: the champion's model card (markdown) and plots, for a person to read."""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

from autovalue.model_bundle import ModelBundle
from autovalue.settings import Settings
from training import tracking
from training.champion import load_registered_bundle

MODEL_ORDER = ["xgboost", "linear_regression", "random_forest"]


class NoChampion(LookupError):
    pass


def write_report(settings: Settings, out_dir: Path | None = None) -> tuple[str, Path]:
    """Write model_card.md and the plots of the current champion; return the card and its folder."""
    client = tracking.mlflow_client(settings)
    current = tracking.champion_version(client, settings)
    if current is None:
        raise NoChampion(f"no champion in {settings.mlflow_uri} for {settings.mlflow_model_name}: "
                         "run `autovalue train` first")
    bundle = load_registered_bundle(settings, client, current)
    out = out_dir or settings.home / "reports" / bundle.version
    out.mkdir(parents=True, exist_ok=True)
    plots = _copy_plots(settings, client, current.run_id, bundle.version, out)
    card = model_card(bundle, settings, [p.name for p in plots])
    (out / "model_card.md").write_text(card)
    return card, out


def _copy_plots(settings: Settings, client, run_id: str, version: str, out: Path) -> list[Path]:
    local = settings.models_dir / version / "plots"
    with tempfile.TemporaryDirectory() as tmp:
        source = local if local.is_dir() else Path(client.download_artifacts(run_id, "plots", tmp))
        copied = [Path(shutil.copy(p, out / p.name)) for p in sorted(source.glob("*.png"))]
    return copied


def _pct(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.2%}"


def _money(value: float | None, currency: str) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:,.0f} {currency}"


def model_card(bundle: ModelBundle, settings: Settings, plots: list[str]) -> str:
    meta = bundle.metadata
    metrics = meta["metrics"]
    currency = meta.get("currency", "")
    split = meta.get("split", {})
    interval = meta["interval"]
    xgb = metrics["xgboost"]
    lines = [
        f"# Model card: {settings.mlflow_model_name} {bundle.version} (champion)",
        "",
        "Predicts the sale price of a used car from its listing and market features: an XGBoost booster on "
        "log(price), with an 80% interval calibrated on recent data (split conformal on log residuals).",
        "",
        "## Lineage",
        f"- trained {meta.get('trained_at', 'n/a')}, MLflow run `{meta.get('mlflow_run_id')}`, "
        f"registered as {settings.mlflow_model_name} version {meta.get('registered_model', {}).get('version')}",
        f"- data: source `{meta.get('source')}`, {meta.get('rows', 0):,} rows, fingerprint `{meta.get('data_fingerprint')}`",
        f"- feature service `{meta.get('feature_service')}` (version {meta.get('feature_service_version')}), "
        f"{len(bundle.features)} features, {len(bundle.categorical)} categorical",
        f"- split: {split.get('split')} — train {split.get('rows_train', 0):,}, early stopping "
        f"{split.get('rows_early_stopping', 0):,}, calibration {split.get('rows_calibration', 0):,}, "
        f"holdout {split.get('rows_holdout', 0):,} rows"
        + (f" (holdout {split['holdout_start']} → {split['holdout_end']})" if "holdout_start" in split else ""),
        f"- {meta.get('rounds')} boosting rounds, seed {meta.get('seed')}, xgboost {meta.get('xgboost_version')}",
        "",
        "## Holdout metrics (never seen in training or calibration)",
        "",
        "| model | MAE | MAPE | median APE | R² |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in [m for m in MODEL_ORDER if m in metrics]:
        m = metrics[name]
        lines.append(f"| {name} | {_money(m['mae'], currency)} | {_pct(m['mape'])} | {_pct(m['median_ape'])} "
                     f"| {m['r2']:.3f} |")
    lines += [
        "",
        f"80% interval: coverage {_pct(xgb.get('interval_coverage'))} on the holdout, mean width "
        f"{_money(xgb.get('interval_mean_width'), currency)} ({_pct(xgb.get('interval_mean_relative_width'))} "
        f"of the price); the interval is price × [{math.exp(interval['lower_log_offset']):.3f}, "
        f"{math.exp(interval['upper_log_offset']):.3f}] around the estimate.",
    ]
    if meta.get("noise_floor_mape"):
        lines.append(f"Simulated market: noise floor MAPE {_pct(meta['noise_floor_mape'])} (what a perfect model "
                     f"gets); XGBoost is at {xgb['mape'] / meta['noise_floor_mape']:.2f}× the floor.")
    numeric = [f for f in bundle.features if f not in bundle.categorical]
    lines += [
        "",
        "## Features",
        f"- categorical: {', '.join(f'{n} ({len(v)} levels)' for n, v in bundle.categorical.items()) or 'none'}",
        f"- numeric: {', '.join(numeric) or 'none'}",
        "",
        "## Use and limits",
        "- Unseen categorical levels (a new model or region) become missing and follow each tree's default "
        "branch: expect wider errors for them than the metrics above.",
        "- Metrics are for the holdout period only; prices drift, so retrain as the market moves "
        "(the champion alias moves only when a new model beats it on the same holdout).",
        "",
        "## Plots",
        *[f"- ![{p}]({p})" for p in plots],
        "",
    ]
    return "\n".join(lines)
