"""Versioned export: `models/<version>/` and the BentoML model store under the same tag.

Both hold exactly the ModelBundle files (model.ubj in XGBoost's own format + metadata.json), the
same files the MLflow run logs as its `bundle`, which is the registered model version and the
source of truth (training.pipeline): these are its copies where the tools and the service read it.
The BentoML entry is created empty and the two files copied in, so nothing is pickled.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from autovalue.model_bundle import METADATA_FILE, MODEL_FILE, ModelBundle
from autovalue.settings import Settings
from training.tracking import quiet_telemetry


def bento_tag(settings: Settings, version: str) -> str:
    return f"{settings.bento_model_name}:{version}"


def _store_home(settings: Settings) -> Path:
    # BentoML reads BENTOML_HOME when first imported: its own files go to the first home used.
    # The store is named per call as well, so each Settings object (tests use several) writes
    # where it says (bento/bentoml_internals.py).
    quiet_telemetry(settings)
    return settings.bentoml_store


def export_bundle(settings: Settings, bundle: ModelBundle) -> tuple[Path, str]:
    """Write the bundle to models/<version>/ and the BentoML store; refuse to overwrite."""
    directory = settings.models_dir / bundle.version
    if (directory / MODEL_FILE).exists():
        raise FileExistsError(f"{directory} already holds a model: the registry and models/ disagree "
                              "(was mlflow.db reset?); move the old models away first")
    bundle.save(directory)
    tag = bento_tag(settings, bundle.version)
    labels = {"feature_service": str(bundle.metadata.get("feature_service")),
              "source": str(bundle.metadata.get("source"))}
    summary = {"mape": bundle.metadata["metrics"]["xgboost"]["mape"],
               "data_fingerprint": bundle.metadata["data_fingerprint"]}
    from bento.bentoml_internals import create_model  # imports BentoML: only when exporting

    with create_model(_store_home(settings), tag, module="autovalue.model_bundle", labels=labels,
                      metadata=summary, context=_context()) as entry:
        for name in (MODEL_FILE, METADATA_FILE):
            shutil.copyfile(directory / name, Path(entry.path) / name)
    return directory, tag


def load_from_bento_store(settings: Settings, version: str) -> ModelBundle:
    from bento.bentoml_internals import get_model

    entry = get_model(_store_home(settings), bento_tag(settings, version))
    return ModelBundle.load(Path(entry.path))


def load_from_models_dir(settings: Settings, version: str) -> ModelBundle:
    return ModelBundle.load(settings.models_dir / version)


def _context():
    import xgboost
    from bentoml.models import ModelContext

    return ModelContext(framework_name="xgboost", framework_versions={"xgboost": xgboost.__version__})
