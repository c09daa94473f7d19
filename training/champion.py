"""The `champion` alias moves only to a candidate that beats the champion on the same holdout.

The current champion is re-scored on the candidate's holdout rows (its own bundle, its own
features and levels), so both are judged on the same cars at the same dates. A champion that
needs features this dataset lacks cannot be judged here: the candidate is then not promoted
unless promotion is forced (a feature-service change is a deliberate decision, not a side effect).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from autovalue.model_bundle import ModelBundle
from autovalue.champion_pointer import write_champion
from autovalue.settings import Settings
from training.metrics import price_metrics
from training.tracking import CHAMPION, bundle_version, champion_version, download_bundle, mlflow_client, quiet_telemetry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    champion: str | None = None
    champion_mape: float | None = None


def load_registered_bundle(settings: Settings, client, model_version) -> ModelBundle:
    """A registry entry's bundle: from models/<version>/, or from its MLflow run when absent here."""
    local = settings.models_dir / bundle_version(model_version)
    if local.is_dir():
        return ModelBundle.load(local)
    with tempfile.TemporaryDirectory() as tmp:
        return ModelBundle.load(download_bundle(client, model_version.run_id, Path(tmp)))


def decide(settings: Settings, client, holdout: pd.DataFrame, candidate_mape: float, force: bool) -> Decision:
    current = champion_version(client, settings)
    if current is None:
        return Decision(True, "no champion yet")
    name = bundle_version(current)
    if force:
        return Decision(True, f"promotion forced over {name}", name)
    champion = load_registered_bundle(settings, client, current)
    missing = [f for f in champion.row_features if f not in holdout.columns]
    if missing:
        return Decision(False, f"champion {name} cannot be scored on this holdout (missing {', '.join(missing[:5])}); "
                               "not promoted (force it if the feature change is intended)", name)
    predicted, _, _ = champion.predict(champion.encode(holdout))
    champion_mape = price_metrics(holdout["label"].to_numpy(), predicted)["mape"]
    if np.isfinite(champion_mape) and candidate_mape >= champion_mape:
        return Decision(False, f"holdout MAPE {candidate_mape:.4f} does not beat champion {name} "
                               f"({champion_mape:.4f}) on the same holdout", name, champion_mape)
    return Decision(True, f"holdout MAPE {candidate_mape:.4f} beats champion {name} ({champion_mape:.4f})",
                    name, champion_mape)


def set_champion(client, settings: Settings, registered_version: str) -> None:
    """The champion moves once: models/champion.json, its one record (the services switch at it),
    written whole by a rename. The registry's alias then mirrors it for MLflow's views; a failure
    there leaves the champion moved, and the next move mends the mirror."""
    write_champion(settings.models_dir, f"v{registered_version}")
    try:
        client.set_registered_model_alias(settings.mlflow_model_name, CHAMPION, registered_version)
    except Exception as error:  # noqa: BLE001 — the champion has moved; only MLflow's view lags
        log.warning("champion is v%s (models/champion.json); MLflow's alias could not follow: %s: %s",
                    registered_version, type(error).__name__, error)


class NoSuchModel(ValueError):
    """The version to make champion was never registered or exported here."""


def make_champion(settings: Settings, version: str) -> tuple[str | None, str]:
    """Point the champion at an earlier or later registered model (a rollback, or a manual
    promotion): `version` as "v3" or "3". Returns (previous champion, new champion), as vN."""
    from mlflow.exceptions import MlflowException

    from training.export import load_from_bento_store

    number = version.removeprefix("v")
    if not number.isdigit():
        raise NoSuchModel(f"{version!r} is not a model version (v1, v2, ... as `autovalue train` prints)")
    client = mlflow_client(settings)
    try:
        client.get_model_version(settings.mlflow_model_name, number)
    except MlflowException:
        raise NoSuchModel(f"v{number} is not a registered version of {settings.mlflow_model_name}") from None
    try:
        load_from_bento_store(settings, f"v{number}")  # what the service will load: it must be whole
    except Exception as error:  # noqa: BLE001 — BentoML raises NotFound, a bundle may be broken
        raise NoSuchModel(f"v{number} is registered but not in the model store {settings.bentoml_store} "
                          f"({type(error).__name__})") from None
    current = champion_version(client, settings)
    set_champion(client, settings, number)
    return (f"v{current.version}" if current is not None else None), f"v{number}"


def ensure_champion(settings: Settings, baselines: bool = True) -> None:
    """For `autovalue setup` and the demo: train on the market source once when there is no champion
    trained on it (a time split when it is dated, else random). `baselines=False` (the demo):
    XGBoost alone; `autovalue baselines` adds them to its run later."""
    quiet_telemetry(settings)  # before training imports bentoml
    from market.io import read_meta
    from training.pipeline import train

    client = mlflow_client(settings)
    current = champion_version(client, settings)
    source = settings.market_source
    if current is not None:
        trained_on = load_registered_bundle(settings, client, current).metadata.get("source")
        if trained_on == source:
            return
        # Another market's model cannot be judged on this one's holdout (its prices, its currency).
        print(f"champion v{current.version} was trained on {trained_on}, not {source}: training one on {source} "
              "and promoting it")
    from training.dataset import build_dataset

    split = "time" if read_meta(settings.raw_dir, source).get("has_listing_dates") else "random"
    print(f"training a champion on {source} (autovalue train --split {split}" + ("" if baselines else ", baselines later")
          + ")")
    result = train(settings, build_dataset(settings, source), split=split, baselines=baselines,
                   force_promote=current is not None)
    print(f"model {result.version}: holdout MAPE {result.metrics['xgboost']['mape']:.2%}")
