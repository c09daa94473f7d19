"""The valuer stage of the scorer (its own thread): a batch's listings through the service's
batch endpoint. Unavailability is retried by the client; a listing the service refuses is found
one by one and becomes a dead letter."""

from __future__ import annotations

from collections.abc import Callable

from consumers.messages import Accepted, DeadLetter, Limits, refused
from consumers.service_client import ServiceRejected, ValuationClient


class BatchValuer:
    def __init__(self, client: ValuationClient, limits: Limits, still_wanted: Callable[[], bool]) -> None:
        self.client, self.limits, self.still_wanted = client, limits, still_wanted

    def valuate(self, accepted: list[Accepted]) -> tuple[dict | None, list[DeadLetter]]:
        """Valuations by listing id and the listings the service refused; (None, []) when
        abandoned (stopping while the service was down)."""
        if not accepted:
            return {}, []
        try:
            result = self.client.valuate([a.listing for a in accepted], self.still_wanted)
        except ServiceRejected:
            # The service refused something our schema let through: find which, one by one.
            return self._one_by_one(accepted)
        if result is None:
            return None, []
        return {v["listing_id"]: v for v in result}, []

    def _one_by_one(self, accepted: list[Accepted]) -> tuple[dict | None, list[DeadLetter]]:
        valued, dead = {}, []
        for item in accepted:
            try:
                result = self.client.valuate([item.listing], self.still_wanted)
            except ServiceRejected as error:
                dead.append(refused(item, f"rejected by the valuation service: {error.detail}", self.limits))
                continue
            if result is None:
                return None, []
            valued[result[0]["listing_id"]] = result[0]
        return valued, dead
