"""Calling the valuation service's batch endpoint; unavailability is retried, never dropped."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx

from autovalue.schema import Listing
from autovalue.settings import Settings

log = logging.getLogger(__name__)

BATCH_PATH = "/valuate_batch"
RETRYABLE_STATUS = {429, 500, 502, 503, 504}


class ServiceRejected(Exception):
    """The service refused the listings themselves (4xx): retrying cannot help."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"service answered {status}: {detail}")
        self.status, self.detail = status, detail


class ValuationClient:
    def __init__(self, settings: Settings) -> None:
        headers = {"X-API-Key": settings.api_key} if settings.api_key else {}
        self.http = httpx.Client(base_url=settings.service_url, headers=headers,
                                 timeout=settings.service_timeout_s)
        self.backoff_max_s = settings.service_backoff_max_s

    def _post(self, listings: list[Listing]) -> list[dict]:
        body = {"listings": [listing.model_dump(mode="json") for listing in listings]}
        response = self.http.post(BATCH_PATH, json=body)
        if response.status_code in RETRYABLE_STATUS:
            raise httpx.HTTPStatusError(f"{response.status_code}", request=response.request, response=response)
        if response.status_code >= 400:
            raise ServiceRejected(response.status_code, response.text[:500])
        return response.json()

    def valuate(self, listings: list[Listing], keep_alive: Callable[[], bool]) -> list[dict] | None:
        """Valuations in input order. While the service is down, retry with backoff, calling
        `keep_alive()` between tries (it polls Kafka); stop and return None when it says so."""
        delay = 0.1
        while True:
            try:
                return self._post(listings)
            except (httpx.TransportError, httpx.HTTPStatusError) as error:
                log.warning("valuation service unavailable (%s); retrying in %.1f s", error, delay)
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline:
                if not keep_alive():
                    return None
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, self.backoff_max_s)

    def close(self) -> None:
        self.http.close()
