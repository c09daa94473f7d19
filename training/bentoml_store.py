"""The BentoML model store of one home, named per call (pinned: bentoml 1.4.40).

BentoML's public `bentoml.models.create`/`get` use the store of BENTOML_HOME as it was when
bentoml was first imported. A process that exports for more than one home (the tests train
several, each served from its own store) would put every model into the first home, where the
second `v1` is refused as already there. BentoML 1.4 names a store per call only through its
internal ModelStore and the private `_model_store=` argument; tests/test_bentoml_store.py fails
as soon as an upgrade moves them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PINNED_VERSION = "1.4.40"


def _store(home: Path):
    from bentoml._internal.models import ModelStore

    path = home / "models"
    path.mkdir(parents=True, exist_ok=True)
    return ModelStore(path)


@contextmanager
def create_model(home: Path, tag: str, **options: Any) -> Iterator[Any]:
    """`bentoml.models.create(tag, **options)` in the store under `home`."""
    import bentoml

    with bentoml.models.create(tag, _model_store=_store(home), **options) as entry:
        yield entry


def get_model(home: Path, tag: str) -> Any:
    """`bentoml.models.get(tag)` from the store under `home`."""
    import bentoml

    return bentoml.models.get(tag, _model_store=_store(home))
