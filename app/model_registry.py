"""What MLflow knows about the models: runs, the champion (models/champion.json), the one before it.

Read defensively: no tracking store, no runs or no champion yet are plain facts (NoData), not
errors. Metrics and plots come from the exported bundle (`models/<version>/metadata.json`,
`models/<version>/plots/`) when it is here, else from the MLflow run.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy.engine import make_url

from app.guard import NoData, Unavailable
from app.model_metrics import MODELS
from autovalue.settings import Settings
from training.tracking import champion_version

MAIN_MODEL = "xgboost"  # the metrics of the served model carry this prefix in MLflow
COMPARED_METRICS = ["mape", "median_ape", "mae", "r2", "interval_coverage", "interval_mean_relative_width"]


@dataclass
class RegisteredModel:
    version: str  # the registry's number, e.g. "3"
    run_id: str | None
    metrics: dict[str, dict[str, float]]  # model name -> metric -> value (holdout)
    metadata: dict = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    plots: list[Path] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"v{self.version}"


@dataclass
class Registry:
    runs: pd.DataFrame
    champion: RegisteredModel | None
    previous: RegisteredModel | None


def _client(settings: Settings):
    uri = settings.mlflow_uri
    parsed = make_url(uri) if uri.startswith("sqlite") else None
    if parsed is not None and parsed.database and not Path(parsed.database).exists():
        raise NoData(f"No MLflow runs yet (no tracking store at {parsed.database}): run `autovalue train`.")
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def read_registry(settings: Settings) -> Registry:
    from mlflow.exceptions import MlflowException

    client = _client(settings)
    try:
        experiments = [e.experiment_id for e in client.search_experiments()]
        runs = client.search_runs(experiments, order_by=["attributes.start_time DESC"], max_results=200) \
            if experiments else []
        versions = _versions(client, settings.mlflow_model_name)
        champion = champion_version(client, settings)  # models/champion.json's entry
    except MlflowException as error:
        raise Unavailable(f"MLflow at {settings.mlflow_uri} cannot be read ({error.message[:200]}).") from error
    if not runs:
        raise NoData("No MLflow runs yet: run `autovalue train` to train the first model.")
    version_of_run = {v.run_id: v.version for v in versions}
    table = _runs_table(runs, version_of_run, champion.version if champion else None)
    if champion is None:
        return Registry(table, None, None)
    previous = _previous_champion(versions, int(champion.version))
    return Registry(table, _load(settings, client, champion, runs),
                    _load(settings, client, previous, runs, with_plots=False) if previous else None)


def _versions(client, name: str) -> list:
    from mlflow.exceptions import MlflowException

    try:
        return list(client.search_model_versions(f"name='{name}'"))
    except MlflowException:
        return []


def _previous_champion(versions: list, champion: int):
    """The newest older version that was promoted when trained (MLflow keeps no alias history);
    failing that, the newest older version."""
    older = sorted((v for v in versions if int(v.version) < champion), key=lambda v: int(v.version))
    promoted = [v for v in older if (v.tags or {}).get("promoted_at_training") == "true"]
    return (promoted or older or [None])[-1]


def _runs_table(runs: list, version_of_run: dict, champion: str | None) -> pd.DataFrame:
    rows = []
    for run in runs:
        metrics, tags = run.data.metrics, run.data.tags
        version = version_of_run.get(run.info.run_id)
        rows.append({
            "started": pd.to_datetime(run.info.start_time, unit="ms", utc=True),
            "run": run.info.run_name, "status": run.info.status,
            "version": f"v{version}" + (" (champion)" if version == champion else "") if version else "",
            "MAPE": metrics.get(f"{MAIN_MODEL}_mape"),
            "median APE": metrics.get(f"{MAIN_MODEL}_median_ape"),
            "interval coverage": metrics.get(f"{MAIN_MODEL}_interval_coverage"),
            "rows": run.data.params.get("rows"),
            "promoted": tags.get("promoted", ""),
            "decision": tags.get("champion_decision", ""),
            # A retrain (training.retrain): both models on the same newest landed sales.
            "retrain": tags.get("retrain", ""),
            "compared with": tags.get("compared_with", ""),
            "challenger MAPE": metrics.get("challenger_mape"),
            "champion MAPE": metrics.get("champion_mape"),
            "compared sales": metrics.get("compared_sales"),
        })
    return pd.DataFrame(rows)


def _load(settings: Settings, client, version, runs: list, with_plots: bool = True) -> RegisteredModel:
    name = f"v{version.version}"
    bundle_dir = settings.models_dir / name
    metadata = {}
    if (bundle_dir / "metadata.json").exists():
        metadata = json.loads((bundle_dir / "metadata.json").read_text())
    run = next((r for r in runs if r.info.run_id == version.run_id), None)
    # The bundle's figures, plus what its run got later (a demo champion's baselines).
    metrics = {**_metrics_from_run(run), **(metadata.get("metrics") or {})}
    plots = sorted((bundle_dir / "plots").glob("*.png")) if (bundle_dir / "plots").is_dir() else []
    if with_plots and not plots and version.run_id:
        plots = _downloaded_plots(client, version.run_id)
    return RegisteredModel(version.version, version.run_id, metrics, metadata,
                           dict(run.data.tags) if run else {}, plots)


def _metrics_from_run(run) -> dict[str, dict[str, float]]:
    if run is None:
        return {}
    out = {}
    for model in MODELS:
        prefix = f"{model}_"
        values = {k[len(prefix):]: v for k, v in run.data.metrics.items() if k.startswith(prefix)}
        if values:
            out[model] = values
    return out


def _downloaded_plots(client, run_id: str) -> list[Path]:
    try:
        target = Path(tempfile.mkdtemp(prefix="autovalue-plots-"))
        return sorted(Path(client.download_artifacts(run_id, "plots", str(target))).glob("*.png"))
    except Exception:  # noqa: BLE001 — no plots logged is a normal state for older runs
        return []


def comparison(champion: RegisteredModel, previous: RegisteredModel | None) -> pd.DataFrame:
    """Holdout metrics of the served model, champion next to the previous champion. Each was
    measured on its own holdout; the champion's run also records the previous champion's MAPE
    on the champion's holdout, the like-for-like comparison."""
    rows = []
    for metric in COMPARED_METRICS:
        now = champion.metrics.get(MAIN_MODEL, {}).get(metric)
        before = previous.metrics.get(MAIN_MODEL, {}).get(metric) if previous else None
        rows.append({"metric": metric, champion.name: now,
                     (previous.name if previous else "previous"): before,
                     "change": (now - before) if now is not None and before is not None else None})
    return pd.DataFrame(rows)
