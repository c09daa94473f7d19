"""`autovalue parity`: the champion's latest holdout and the latest stream, valued three ways
(training.parity), against the running service."""

from __future__ import annotations

import httpx
import pandas as pd

from autovalue.model_bundle import ModelBundle
from autovalue.champion_pointer import read_champion
from autovalue.settings import Settings
from training.dataset import observations
from training.parity import ParityReport, check

AGREEMENT_GOAL = 0.999


class ParityUnavailable(RuntimeError):
    """An expected reason the check cannot run (no champion, service down): one line for the CLI."""


def service_post(settings: Settings, client: httpx.Client):
    def post(path: str, listings: list[dict]) -> list[dict]:
        try:
            response = client.post(f"{settings.service_url}{path}", json={"listings": listings})
        except httpx.HTTPError as error:
            raise ParityUnavailable(f"the valuation service at {settings.service_url} did not answer: {error}")
        if response.status_code != 200:
            raise ParityUnavailable(f"{path} answered {response.status_code}: {response.text[:300]}")
        return response.json()
    return post


def holdout_rows(settings: Settings, bundle: ModelBundle, n: int) -> tuple[pd.DataFrame, bool]:
    """Listings of the champion's holdout (undated data: a seeded sample), each at the moment
    training valued it; listings dated after now are left out (the service refuses them)."""
    from market.io import read_meta, read_source

    source = bundle.metadata.get("source") or settings.market_source
    dated = bool(read_meta(settings.raw_dir, source).get("has_listing_dates"))
    rows = observations(read_source(settings.raw_dir, source), dated)
    split = bundle.metadata.get("split", {})
    if dated:
        listed = pd.to_datetime(rows["listed_at"], utc=True)
        keep = listed <= pd.Timestamp.now(tz="UTC")
        if split.get("holdout_start"):
            keep &= listed >= pd.Timestamp(split["holdout_start"])
        rows = rows[keep.to_numpy()]
    return rows.sample(n=min(n, len(rows)), random_state=0), dated


def stream_rows(settings: Settings, bundle: ModelBundle, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The latest `n` listings the scorer stored with the champion, and their stored valuations."""
    from sqlalchemy import select

    from autovalue.tables import as_listed, connect, valuations

    engine = connect(settings.database)
    try:
        with engine.connect() as connection:
            query = (select(valuations).where(valuations.c.model_version == bundle.version)
                     .order_by(valuations.c.id.desc()).limit(n))
            stored = pd.DataFrame(connection.execute(query).mappings().all())
    finally:
        engine.dispose()
    if stored.empty:
        return stored, stored
    return as_listed(stored), stored[["listing_id", "predicted_price", "listed_at", "market_data_age_s"]]


def run_parity(settings: Settings, holdout: int, stream: int) -> list[ParityReport]:
    from feature_repo.config import feature_store
    from feature_repo.service_features import ServiceFeatures

    version = read_champion(settings.models_dir)
    if version is None:
        raise ParityUnavailable(f"no champion in {settings.models_dir}: train one first (autovalue train)")
    bundle = ModelBundle.load(settings.models_dir / version)
    spec = ServiceFeatures(feature_store(settings), bundle.metadata.get("feature_service") or settings.feature_service)
    headers = {"X-API-Key": settings.api_key} if settings.api_key else {}
    reports = []
    with httpx.Client(headers=headers, timeout=60) as client:
        post = service_post(settings, client)
        if holdout:
            rows, dated = holdout_rows(settings, bundle, holdout)
            reports.append(check(spec, bundle, rows, dated, post, f"{version} holdout"))
        if stream:
            rows, stored = stream_rows(settings, bundle, stream)
            if len(rows):
                reports.append(check(spec, bundle, rows, True, post, f"{version} stream", stored=stored))
    return reports
