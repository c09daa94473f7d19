"""The service's log filter on BentoML's per-request error log: a caller's mistake becomes one
INFO line; the service's own faults stay ERRORs with their traceback."""

from __future__ import annotations

import logging
import sys

import pytest
from bentoml.exceptions import BadInput, ServiceUnavailable
from pydantic import BaseModel, ValidationError

from bento.log_filters import BENTOML_REQUEST_ERRORS, ClientErrorsAsInfo


class _Listing(BaseModel):
    year: int


def _record(error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except BaseException:
        exc_info = sys.exc_info()
    return logging.LogRecord(BENTOML_REQUEST_ERRORS, logging.ERROR, __file__, 1, "Exception on %s [%s]",
                             ("/valuate", "POST"), exc_info)


def _validation_error() -> ValidationError:
    try:
        _Listing(year="x")
    except ValidationError as error:
        return error


@pytest.mark.parametrize("error", [_validation_error(), BadInput("no listing")])
def test_a_client_error_is_one_info_line(error, caplog):
    caplog.set_level(logging.INFO, logger=BENTOML_REQUEST_ERRORS)
    record = _record(error)
    assert ClientErrorsAsInfo().filter(record)
    assert (record.levelno, record.levelname, record.exc_info) == (logging.INFO, "INFO", None)
    assert record.getMessage().startswith(f"client error on /valuate [POST]: {type(error).__name__}: ")
    assert "\n" not in record.getMessage()


@pytest.mark.parametrize("error", [RuntimeError("bug"), ServiceUnavailable("feature store down")])
def test_a_service_fault_stays_an_error_with_its_traceback(error):
    record = _record(error)
    assert ClientErrorsAsInfo().filter(record)
    assert record.levelno == logging.ERROR and record.exc_info is not None


def test_a_client_error_is_dropped_when_info_is_not_logged(caplog):
    caplog.set_level(logging.WARNING, logger=BENTOML_REQUEST_ERRORS)
    assert not ClientErrorsAsInfo().filter(_record(_validation_error()))
