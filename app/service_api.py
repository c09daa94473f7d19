"""The one client of the valuation service's single-valuation endpoint.

Path and body shape are constants: the service's contract is settled here and nowhere else.
Connection errors, timeouts and 5xx mean "service down"; 422 means the listing was refused,
with the service's message naming each bad field.
"""

from __future__ import annotations

import httpx

from app.guard import ServiceUnavailable
from autovalue.settings import Settings
from autovalue.valuation import Valuation

VALUATE_PATH = "/valuate"


def request_body(listing: dict) -> dict:
    # The BentoML endpoint takes its argument by name: {"listing": {...}}.
    return {"listing": listing}


class ListingRejected(Exception):
    """The service refused the listing (4xx): the message says which field and why."""


def _headers(settings: Settings) -> dict[str, str]:
    return {"X-API-Key": settings.api_key} if settings.api_key else {}


def rejection_message(response: httpx.Response) -> str:
    """The service's 422 body {"message", "fields": [{"field", "message"}]} as one line."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        fields = body.get("fields")
        if isinstance(fields, list) and fields:
            return "; ".join(f"{f.get('field', '?').removeprefix('listing.')}: {f.get('message', '')}"
                             for f in fields if isinstance(f, dict))
        return str(body.get("message") or body.get("error") or body)[:300]
    return str(body)[:300]


def valuate(settings: Settings, listing: dict) -> Valuation:
    url = settings.service_url.rstrip("/") + VALUATE_PATH
    try:
        response = httpx.post(url, json=request_body(listing), headers=_headers(settings),
                              timeout=settings.service_timeout_s)
    except httpx.TimeoutException as error:
        raise ServiceUnavailable(f"the valuation service at {settings.service_url} did not answer within "
                                 f"{settings.service_timeout_s:g} s. Try again in a moment.") from error
    except httpx.HTTPError as error:
        raise ServiceUnavailable(f"the valuation service at {settings.service_url} is unavailable "
                                 "(nothing answers there). Try again once it is running.") from error
    if response.status_code >= 500 or response.status_code == 429:
        raise ServiceUnavailable(f"the valuation service at {settings.service_url} is unavailable "
                                 f"(HTTP {response.status_code}). Try again in a moment.")
    if response.status_code == 401:
        raise ServiceUnavailable("the valuation service refused the dashboard's API key "
                                 "(set AUTOVALUE_API_KEY to the service's key).")
    if response.status_code >= 400:
        raise ListingRejected(rejection_message(response))
    return Valuation.model_validate(response.json())

