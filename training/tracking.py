"""MLflow: the tracking store, one registered model and its `champion` alias.

Embedded default: a SQLite store in the project folder with artifacts in `mlartifacts/` next
to it, so `mlflow ui --backend-store-uri sqlite:///mlflow.db` run from the project folder shows
everything. Production: settings.mlflow_tracking_uri points at the tracking server, which owns
its artifact store.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from autovalue.settings import Settings, get_settings

CHAMPION = "champion"
log = logging.getLogger(__name__)

# Where a run keeps its model bundle: the artefact its registered model version points at.
BUNDLE_ARTIFACTS = "bundle"


def quiet_telemetry(settings: Settings) -> None:
    """Before anything imports bentoml or mlflow: no telemetry, and BentoML's model store inside
    the project (settings.bentoml_store)."""
    for name, value in settings.library_environment().items():
        os.environ.setdefault(name, value)


def prepare_tracking() -> None:
    """The MLflow store and experiment, created when missing (a child process of the set-up:
    MLflow's first use creates its tables, seconds of single-threaded Python)."""
    settings = get_settings()
    quiet_telemetry(settings)
    mlflow_client(settings)


def mlflow_client(settings: Settings):
    """Point mlflow at the settings' store and make sure the experiment exists."""
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(settings.mlflow_uri)
    client = MlflowClient(settings.mlflow_uri)
    if client.get_experiment_by_name(settings.mlflow_experiment) is None:
        location = None
        # A tracking server keeps its own artifacts; a database or file store needs a local folder.
        if not settings.mlflow_uri.startswith(("http://", "https://")):
            location = (settings.home / "mlartifacts").resolve().as_uri()
        client.create_experiment(settings.mlflow_experiment, artifact_location=location)
    mlflow.set_experiment(settings.mlflow_experiment)
    return client


def champion_version(client, settings: Settings):
    """The registry entry of the champion, or None when there is no champion yet. The champion's
    one record is models/champion.json (autovalue.champion_pointer), which the service follows;
    the registry's `champion` alias mirrors it for MLflow's own views (training.champion)."""
    from mlflow.exceptions import MlflowException

    from autovalue.champion_pointer import read_champion

    version = read_champion(settings.models_dir)
    if version is None or not version.removeprefix("v").isdigit():
        return None
    try:
        return client.get_model_version(settings.mlflow_model_name, version.removeprefix("v"))
    except MlflowException:
        return None


def bundle_version(model_version) -> str:
    """The export version of a registry entry: `v<registered version number>`."""
    return f"v{model_version.version}"


def download_bundle(client, run_id: str, target: Path) -> Path:
    """The bundle (model.ubj + metadata.json) logged with a run, fetched into `target`."""
    target.mkdir(parents=True, exist_ok=True)
    return Path(client.download_artifacts(run_id, BUNDLE_ARTIFACTS, str(target)))


def log_step_seconds(run_id: str, seconds: dict[str, float]) -> None:
    import mlflow

    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics({f"seconds_{step}": value for step, value in seconds.items()})
