"""Which model the service serves: the champion, by its tag in the BentoML model store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from autovalue.settings import Settings

if TYPE_CHECKING:  # xgboost and pandas load in the workers only, not in `bentoml serve` itself
    from autovalue.model_bundle import ModelBundle


def champion_tag(settings: Settings) -> str:
    """The champion training promoted (models/champion.json), unless AUTOVALUE_BENTO_MODEL_VERSION
    pins a version or says "latest". A candidate that lost to the champion is in the store too:
    "latest" is not the champion."""
    from autovalue.champion_pointer import read_champion

    version = settings.bento_model_version
    if version == "champion":
        version = read_champion(settings.models_dir) or "latest"
    return f"{settings.bento_model_name}:{version}"


def stored_metadata(tag: str) -> dict:
    """A stored model's metadata.json ({} when the store has no such model: the workers then
    stop with the clear error of load_champion)."""
    import json

    import bentoml
    from bentoml.exceptions import NotFound

    try:
        path = Path(bentoml.models.get(tag).path) / "metadata.json"
    except NotFound:
        return {}
    return json.loads(path.read_text()) if path.is_file() else {}


def load_champion(model_ref) -> "ModelBundle":
    """The bundle (model.ubj + metadata.json, never a pickle) of a resolved store entry.

    `model_ref.stored` looks in the local store only: a missing champion is a clear start-up
    error here instead of an attempt to pull it from BentoCloud.
    """
    from autovalue.model_bundle import ModelBundle

    stored = model_ref.stored
    if stored is None:
        raise RuntimeError(f"no model {model_ref.tag} in the BentoML model store; export a champion first")
    return ModelBundle.load(Path(stored.path))
