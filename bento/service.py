"""The valuation service: `bentoml serve bento.service:ValuationService` (or `autovalue serve`).

    POST /valuate        {"listing": {...}}          -> one Valuation
    POST /valuate_batch  {"listings": [{...}, ...]}  -> a list of Valuations, in order
                         (1..max_batch_size listings; BentoML adaptive batching merges requests)
    POST /model_inputs   {"listings": [{...}, ...]}  -> what the model sees for each listing
    GET  /healthz /livez /readyz (never need the API key; small JSON bodies), /metrics (Prometheus)
    GET  /  /docs  /docs.json  AutoValue's page, the OpenAPI UI and spec (bento/pages.py)

A listing is autovalue.schema.Listing with the attributes of the champion's market
(autovalue.schema.listing_model), a valuation autovalue.valuation.Valuation. Errors: 400
malformed JSON, 401 missing/wrong API key, 413 body too large, 415 not JSON, 422 invalid
listing(s) (the body names each bad field), 503 overloaded or feature store down (retry later).
Every setting comes from autovalue.settings (AUTOVALUE_* environment variables).
"""

from __future__ import annotations

import collections
import gc
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import bentoml
from bentoml.exceptions import ServiceUnavailable
from prometheus_client import Counter
from pydantic import Field, ValidationError

from autovalue.champion_pointer import read_champion_record
from autovalue.market_attributes import parse_attributes
from autovalue.schema import listing_model
from autovalue.service_paths import BATCH_PATH
from autovalue.settings import get_settings
from autovalue.valuation import Valuation
from bento.champion import champion_tag, load_champion, stored_metadata
from bento.http_guards import ApiKeyMiddleware, RequestGuardMiddleware, body_limits
from bento.json_output import ValuationList
from bento.pages import HealthBodyMiddleware, pages_app, serving_facts
from bento.rollout import Rollout

log = logging.getLogger("bentoml.service.autovalue")
SETTINGS = get_settings()  # read once at import: BentoML takes workers and batching from here
if SETTINGS.mode == "production" and not SETTINGS.api_key:
    raise RuntimeError("AUTOVALUE_MODE=production needs AUTOVALUE_API_KEY: the valuation API would be open")

# Prometheus: BentoML's own request metrics plus what the valuations were (exported with _total).
VALUATIONS = Counter("autovalue_valuations", "Valuations served, by deal rating and market fallback",
                     ["deal_rating", "fallback"])


# What this worker serves now (the pages and probes show it); set by the service, then by rollouts.
SERVED: dict = {}
# The API takes the listing fields plus the attributes the champion's market declared: the
# request schema, its validation and the OpenAPI page come from that one declaration.
CHAMPION_METADATA = stored_metadata(champion_tag(SETTINGS))
ATTRIBUTES = parse_attributes(CHAMPION_METADATA.get("attributes"))
ServedListing = listing_model(ATTRIBUTES, SETTINGS.market_currency or CHAMPION_METADATA.get("currency"))
BatchOfListings = Annotated[list[ServedListing], Field(min_length=1, max_length=SETTINGS.max_batch_size)]


@bentoml.service(name="autovalue", workers=SETTINGS.service_workers,
                 logging={"access": {"enabled": SETTINGS.service_access_log}})
class ValuationService:
    champion = bentoml.models.BentoModel(champion_tag(SETTINGS))

    def __init__(self) -> None:
        # Feast, pandas and XGBoost load here, in the workers: `bentoml serve` itself imports
        # this module only to read the service definition.
        from bento import log_filters
        from bento.lean_imports import skip_type_check_instrumentation, skip_unused_imports

        skip_unused_imports()  # before anything imports XGBoost: it would import scikit-learn
        skip_type_check_instrumentation()  # before anything imports Feast
        from feature_repo.config import feature_store

        log_filters.install()  # here, in the worker, after BentoML has set up its logging

        self.store = feature_store(SETTINGS)
        bundle = load_champion(type(self).champion)  # the reference, not the resolved model
        self.valuator = self._ready_valuator(bundle)
        SERVED.update(model_version=bundle.version, feature_service=self.valuator.feature_service)
        # The champion the last promotion replaced, scored in shadow (SETTINGS.service_shadow);
        # a service started after that promotion finds it in the champion's record.
        self.shadow = self._previous_champion(bundle.version)
        # Everything loaded so far lives as long as the worker: keep it out of GC scans, which
        # otherwise set the p99 of single valuations.
        gc.collect()
        gc.freeze()
        log.info("serving champion %s (%s) with feature service %s%s", self.champion.tag, bundle.version,
                 self.valuator.feature_service, f"; {self.shadow.bundle.version} in shadow" if self.shadow else "")
        self.rollout: Rollout | None = None
        if SETTINGS.bento_model_version == "champion" and SETTINGS.service_champion_poll_s > 0:
            self.rollout = Rollout(SETTINGS.models_dir, bundle.version, self._load_version, self._switch,
                                   SETTINGS.service_champion_settle_s)
            self.rollout.watch(SETTINGS.service_champion_poll_s)

    def _previous_champion(self, served: str):
        """The replaced champion's valuator, when this service follows the champion and one is
        recorded; None (one log line) when it cannot be loaded: a shadow never stops a start."""
        record = read_champion_record(SETTINGS.models_dir) or {}
        previous = record.get("previous")
        if not (SETTINGS.service_shadow and SETTINGS.bento_model_version == "champion"
                and record.get("version") == served and previous and previous != served):
            return None
        try:
            return self._load_version(previous)
        except Exception as error:  # noqa: BLE001 — whatever it is, the champion serves without it
            log.warning("replaced champion %s not scored in shadow: %s: %s", previous, type(error).__name__, error)
            return None

    def _valuator(self):
        """The valuator for this request (a rollout's new one from its moment on)."""
        return self.valuator if self.rollout is None else self.rollout.choose(self.valuator)

    def _ready_valuator(self, bundle):
        """A warmed-up valuator for `bundle`, reading the feature service version it was trained on."""
        from bento.market import MarketReader
        from bento.valuator import Valuator

        service_name = bundle.metadata.get("feature_service") or SETTINGS.feature_service
        if service_name != SETTINGS.feature_service:
            log.warning("champion %s uses %s, settings say %s: serving %s", bundle.version,
                        service_name, SETTINGS.feature_service, service_name)
        market = MarketReader(self.store, service_name, cache_s=SETTINGS.service_feature_cache_s,
                              model_features=bundle.row_features)
        valuator = Valuator(bundle, market, SETTINGS.service_value_drivers, SETTINGS.service_batch_threads,
                            SETTINGS.service_threads_from_rows, SETTINGS.confidence_market_stale_s)
        self._warm_up(valuator)
        return valuator

    def _load_version(self, version: str):
        """The valuator of another exported version, from the local model store (bento.rollout)."""
        from autovalue.model_bundle import ModelBundle

        stored = bentoml.models.get(f"{SETTINGS.bento_model_name}:{version}")
        bundle = ModelBundle.load(Path(stored.path))
        attributes = parse_attributes(bundle.metadata.get("attributes"))
        if attributes != ATTRIBUTES:
            raise RuntimeError(f"it takes the attributes {[a.name for a in attributes]}, this service's API "
                               f"{[a.name for a in ATTRIBUTES]}: restart the service to serve it")
        return self._ready_valuator(bundle)

    def _switch(self, version: str, valuator) -> None:
        if SETTINGS.service_shadow:
            self.shadow = self.valuator  # first: a request between the two sees both the same, no shadow
        self.valuator = valuator  # one assignment: a request in flight keeps the valuator it began with
        SERVED.update(model_version=version, feature_service=valuator.feature_service)
        # The old model was frozen with the rest at start-up: let a full collection free it once
        # the requests that still hold it are done, and freeze what lives on again.
        time.sleep(1.0)
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    @staticmethod
    def _warm_up(valuator) -> None:
        """First calls pay for registry reads, lazy imports and XGBoost set-up: pay them now."""
        year = datetime.now(timezone.utc).year - 5
        listing = ServedListing(listing_id="warm-up", brand="warm-up", model="warm-up", year=year, mileage_km=50_000)
        for size in (1, 2, valuator.threads_from_rows):  # the last one warms the threaded copy
            valuator.valuate([listing] * size)

    def _valuate(self, listings: list[ServedListing]) -> list[Valuation]:
        from bento.valuator import FeatureStoreUnavailable

        chosen = self._valuator()
        try:
            read = chosen.read(listings)
            valuations = chosen.valuate(listings, read)
        except FeatureStoreUnavailable as error:
            log.error("feature store read failed: %s", error)
            raise ServiceUnavailable("the feature store is unavailable; retry later") from error
        except ValidationError as error:
            # BentoML would report it as the caller's bad input (400/422): it is ours.
            raise RuntimeError(f"valuation contract violated: {error}") from error
        # One increment per label pair, not per valuation (each labels() call looks the pair up).
        counted = collections.Counter((v.deal_rating.value if v.deal_rating else "none", v.fallback.value)
                                      for v in valuations)
        for (rating, fallback), n in counted.items():
            VALUATIONS.labels(deal_rating=rating, fallback=fallback).inc(n)
        # In a rollout's moment the served valuator is still the one being replaced: that is the shadow.
        shadow = self.valuator if chosen is not self.valuator and SETTINGS.service_shadow else self.shadow
        if shadow is not None and shadow is not chosen:
            # The served model's read when it serves the shadow too: one feature read a request.
            self._score_in_shadow(shadow, listings, valuations, read[1] if shadow.reads_like(chosen) else None)
        return valuations

    @staticmethod
    def _score_in_shadow(shadow, listings: list[ServedListing], valuations: list[Valuation], read=None) -> None:
        """The replaced champion's price beside each valuation; a shadow never fails a request."""
        try:
            prices = shadow.prices(listings, read)
        except Exception as error:  # noqa: BLE001 — whatever it is, the answer goes out without it
            log.warning("shadow model %s could not value %d listings: %s: %s", shadow.bundle.version,
                        len(listings), type(error).__name__, error)
            return
        for valuation, price in zip(valuations, prices):
            valuation.shadow_model_version, valuation.shadow_price = shadow.bundle.version, price

    @bentoml.api(route="/valuate")
    def valuate(self, listing: ServedListing) -> Valuation:
        return self._valuate([listing])[0]

    @bentoml.api(route="/model_inputs")
    def model_inputs(self, listings: BatchOfListings) -> list[dict]:
        """The model's inputs for each listing, as the service computes them (parity checks)."""
        from bento.valuator import FeatureStoreUnavailable

        try:
            return self._valuator().model_inputs(listings)
        except FeatureStoreUnavailable as error:
            raise ServiceUnavailable("the feature store is unavailable; retry later") from error

    @bentoml.api(route=BATCH_PATH, batchable=True, output_spec=ValuationList,
                 max_batch_size=SETTINGS.service_batching_max_size,
                 max_latency_ms=SETTINGS.service_batching_max_latency_ms)
    def valuate_batch(self, listings: BatchOfListings) -> list[Valuation]:
        # BentoML may hand over several requests' listings merged (and split them back after).
        return self._valuate(listings)


ValuationService.add_asgi_middleware(ApiKeyMiddleware, api_key=SETTINGS.api_key)
ValuationService.add_asgi_middleware(RequestGuardMiddleware, limits=body_limits(
    ["/valuate"], ["/valuate_batch", "/model_inputs"], SETTINGS.listing_max_bytes, SETTINGS.service_max_body_bytes))
# AutoValue's own `/` and `/docs` instead of BentoML's page, and JSON bodies on the probes.
STARTED_WITH = serving_facts(ValuationService.inner.champion, SETTINGS.feature_service)


def serving_now() -> dict:
    return dict(SERVED) if SERVED else STARTED_WITH()


ValuationService.mount_asgi_app(pages_app(serving_now, lambda: ValuationService.openapi_spec.asdict()), path="/")
ValuationService.add_asgi_middleware(HealthBodyMiddleware, serving=serving_now)
