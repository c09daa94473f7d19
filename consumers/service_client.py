"""Calling the valuation service's batch endpoint; unavailability is retried, never dropped."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pydantic_core
from pydantic import TypeAdapter

from autovalue.schema import Listing
from autovalue.service_paths import BATCH_PATH
from autovalue.settings import Settings
from consumers.backoff import Abandoned, retry

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
JSON_BODY = {"Content-Type": "application/json"}


class ServiceRejected(Exception):
    """The service refused the listings themselves (4xx): retrying cannot help."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"service answered {status}: {detail}")
        self.status, self.detail = status, detail


class ValuationClient:
    def __init__(self, settings: Settings, listing_type: type[Listing] = Listing) -> None:
        # The market's listing type, so that its own attributes travel to the service too.
        self.listings = TypeAdapter(list[listing_type])
        headers = {"X-API-Key": settings.api_key} if settings.api_key else {}
        self.http = httpx.Client(base_url=settings.service_url, headers=headers,
                                 timeout=settings.service_timeout_s)
        self.backoff_max_s = settings.service_backoff_max_s

    def _post(self, listings: list[Listing]) -> list[dict]:
        # pydantic's own serializer and parser: a batch costs the scorer's thread less than
        # model_dump and the json module would.
        body = b'{"listings":' + self.listings.dump_json(listings) + b"}"
        response = self.http.post(BATCH_PATH, content=body, headers=JSON_BODY)
        if response.status_code in RETRYABLE_STATUS:
            raise httpx.HTTPStatusError(f"{response.status_code}", request=response.request, response=response)
        if response.status_code >= 400:
            raise ServiceRejected(response.status_code, response.text[:500])
        return pydantic_core.from_json(response.content)

    def valuate(self, listings: list[Listing], still_wanted: Callable[[], bool]) -> list[dict] | None:
        """Valuations in input order. While the service is down, retry with backoff for as long
        as `still_wanted()`; None once it says no."""
        try:
            return retry(lambda: self._post(listings), (httpx.TransportError, httpx.HTTPStatusError), still_wanted,
                         self.backoff_max_s, "valuation service unavailable")
        except Abandoned:
            return None

    def close(self) -> None:
        self.http.close()
