"""The BentoML internals this service relies on, in one place (pinned: bentoml 1.4.40).

BentoML 1.4 has no public way to replace its request-error logging, to reach the Swagger UI
files it ships, or to name the root model behind an API's `-> list[...]` (bento/json_output.py
subclasses it to write the batch response in one pass); all three are used here, and
tests/test_bentoml_internals.py fails as soon as an upgrade moves them.
"""

from __future__ import annotations

from pathlib import Path

from _bentoml_sdk.io_models import IORootModel  # the type BentoML gives an API's `-> list[...]`

PINNED_VERSION = "1.4.40"

# The logger of bentoml._internal.server.http_app.log_exception, called for every failed API request.
REQUEST_ERROR_LOGGER = "bentoml._internal.server.http_app"


def swagger_assets() -> Path:
    """The folder of Swagger UI files BentoML serves its own /docs from."""
    from bentoml._internal import server

    return Path(server.__file__).parent / "static_content"


__all__ = ["PINNED_VERSION", "REQUEST_ERROR_LOGGER", "IORootModel", "swagger_assets"]
