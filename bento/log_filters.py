"""BentoML logs every failed request at ERROR with a traceback, a caller's invalid listing too:
a client's mistake is one INFO line here, and only the service's own faults stay errors."""

from __future__ import annotations

import logging

from bento.bentoml_internals import REQUEST_ERROR_LOGGER as BENTOML_REQUEST_ERRORS


def is_client_error(error: BaseException | None) -> bool:
    from bentoml.exceptions import BentoMLException
    from pydantic import ValidationError

    if isinstance(error, ValidationError):  # BentoML answers 400 (422 after our guard)
        return True
    return isinstance(error, BentoMLException) and int(error.error_code) < 500


class ClientErrorsAsInfo(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or not is_client_error(record.exc_info[1]):
            return True
        error = record.exc_info[1]
        first_line = (str(error).splitlines() or [""])[0]
        # "Exception on /valuate [POST]" -> "client error on /valuate [POST]: ValidationError: ..."
        where = record.getMessage().replace("Exception", "client error", 1)
        record.msg = f"{where}: {type(error).__name__}: {first_line}"
        record.args = None
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.INFO, "INFO"
        return logging.getLogger(record.name).isEnabledFor(logging.INFO)


def install() -> None:
    logger = logging.getLogger(BENTOML_REQUEST_ERRORS)
    if not any(isinstance(f, ClientErrorsAsInfo) for f in logger.filters):
        logger.addFilter(ClientErrorsAsInfo())
