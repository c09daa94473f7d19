"""The BentoML internals the project relies on, in one place (pinned: bentoml 1.4.40).

BentoML 1.4 has no public way to replace its request-error logging, to reach the Swagger UI
files it ships, to name the root model behind an API's `-> list[...]` (bento/json_output.py
subclasses it to write the batch response in one pass), or to name the model store per call.
The last is for the exporter (training/export.py): the public `bentoml.models.create`/`get` use
the store of BENTOML_HOME as it was when bentoml was first imported, so a process that exports
for more than one home (the tests train several, each served from its own store) would put
every model into the first home, where the second `v1` is refused as already there; the internal
ModelStore and the private `_model_store=` argument name it per call.
tests/test_bentoml_internals.py fails as soon as an upgrade moves any of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _bentoml_sdk.io_models import IORootModel  # the type BentoML gives an API's `-> list[...]`

PINNED_VERSION = "1.4.40"

# The logger of bentoml._internal.server.http_app.log_exception, called for every failed API request.
REQUEST_ERROR_LOGGER = "bentoml._internal.server.http_app"


def swagger_assets() -> Path:
    """The folder of Swagger UI files BentoML serves its own /docs from."""
    from bentoml._internal import server

    return Path(server.__file__).parent / "static_content"


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


__all__ = ["PINNED_VERSION", "REQUEST_ERROR_LOGGER", "IORootModel", "swagger_assets", "create_model",
           "get_model"]
