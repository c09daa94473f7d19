"""The BentoML internals this service relies on, in one place (pinned: bentoml 1.4.40).

BentoML 1.4 has no public way to replace its request-error logging or to reach the Swagger UI
files it ships; both are used here, and tests/test_bentoml_internals.py fails as soon as an
upgrade moves them. (bento/json_output.py's IORootModel is the third, kept with its own reason.)
"""

from __future__ import annotations

from pathlib import Path

PINNED_VERSION = "1.4.40"

# The logger of bentoml._internal.server.http_app.log_exception, called for every failed API request.
REQUEST_ERROR_LOGGER = "bentoml._internal.server.http_app"


def swagger_assets() -> Path:
    """The folder of Swagger UI files BentoML serves its own /docs from."""
    from bentoml._internal import server

    return Path(server.__file__).parent / "static_content"
