"""Is each part up? The valuation service, the Kafka broker and the database, asked on every
refresh of the Live page, and one banner that says plainly what is down and what that means.

The service and the broker are asked at the same time (each with a short timeout), so a part
that hangs costs one timeout, not the sum.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import streamlit as st

from autovalue.service_paths import READY_PATH
from autovalue.settings import Settings
from consumers.kafka_clients import broker_answers

TIMEOUT_S = 1.5


@dataclass
class Parts:
    service_up: bool
    service_detail: str  # why it is down, or "" when up
    model_version: str | None  # what the service says it serves
    broker_up: bool
    database_error: str | None = None  # set by the page when its reads fail

    @property
    def all_up(self) -> bool:
        return self.service_up and self.broker_up and self.database_error is None


def _service(settings: Settings) -> tuple[bool, str, str | None]:
    url = settings.service_url.rstrip("/") + READY_PATH
    try:
        response = httpx.get(url, timeout=TIMEOUT_S)
    except httpx.TimeoutException:
        return False, f"no answer within {TIMEOUT_S:g} s", None
    except httpx.HTTPError:
        return False, "nothing answers there", None
    if response.status_code != 200:
        return False, f"not ready (HTTP {response.status_code}: starting, or its model failed to load)", None
    try:
        version = response.json().get("model_version")
    except (ValueError, AttributeError):
        version = None  # an older service: ready, version unknown
    return True, "", version


def check(settings: Settings) -> Parts:
    with ThreadPoolExecutor(max_workers=2) as pool:
        service = pool.submit(_service, settings)
        broker = pool.submit(broker_answers, settings, int(TIMEOUT_S * 1000))
        up, detail, version = service.result()
        return Parts(up, detail, version, broker.result())


def banner(parts: Parts, settings: Settings) -> None:
    """One red box naming each part that is down, with its consequence; nothing when all are up."""
    down = []
    if not parts.service_up:
        down.append(f"**Valuation service down** ({settings.service_url}: {parts.service_detail}). "
                    "New listings wait in Kafka until it is back; the scorer retries them. "
                    "Value a car cannot value either.")
    if not parts.broker_up:
        down.append(f"**Kafka broker down** ({settings.kafka_bootstrap} is unreachable). No listings "
                    "arrive or get valued; consumer lag is unknown.")
    if parts.database_error:
        down.append(f"**Database down**: {parts.database_error}. Nothing new can be stored or shown.")
    if down:
        st.error("  \n".join(down), icon=":material/error:")
