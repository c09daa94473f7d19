"""The BentoML internals bento/bentoml_internals.py names still exist in the pinned version:
an upgrade that moves them fails here, not silently in production (logs at ERROR again, /docs
without its files, the batch response written the slow way or not at all, every test's model
exported into the first store)."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import bentoml
import pytest
from bentoml.exceptions import NotFound

from bento.bentoml_internals import (PINNED_VERSION, REQUEST_ERROR_LOGGER, IORootModel, create_model, get_model,
                                     swagger_assets)


def test_written_for_the_installed_bentoml():
    assert bentoml.__version__ == PINNED_VERSION, "re-check bento/bentoml_internals.py against this BentoML"


def test_the_request_error_logger_is_the_module_that_logs_failed_requests():
    module = importlib.import_module(REQUEST_ERROR_LOGGER)
    assert hasattr(module, "log_exception")


def test_the_swagger_ui_files_are_where_they_are_looked_for():
    names = {path.name for path in swagger_assets().iterdir()}
    assert {"swagger-ui.css", "swagger-ui-bundle.js"} <= names, sorted(names)


def test_a_list_output_is_described_by_the_root_model_json_output_subclasses():
    @bentoml.api
    def echo(self, numbers: list[int]) -> list[int]:
        return numbers

    assert issubclass(echo.output_spec, IORootModel), echo.output_spec.__mro__
    # bento/json_output.py overrides this hook with the same signature.
    assert list(inspect.signature(IORootModel.to_http_response).parameters) == ["obj", "serde"]


def test_each_home_has_its_own_store_in_one_process(tmp_path):
    for home in (tmp_path / "a", tmp_path / "b"):  # the same tag in both: no "already exists"
        with create_model(home, "probe:v1", labels={"home": home.name}) as entry:
            (Path(entry.path) / "file.txt").write_text(home.name)
    for home in (tmp_path / "a", tmp_path / "b"):
        entry = get_model(home, "probe:v1")
        assert entry.info.labels == {"home": home.name}
        assert (Path(entry.path) / "file.txt").read_text() == home.name
    with pytest.raises(NotFound):
        get_model(tmp_path / "c", "probe:v1")
