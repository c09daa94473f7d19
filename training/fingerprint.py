"""A fingerprint of the training data: same rows, labels and features -> same hash."""

from __future__ import annotations

import hashlib
import re

import pandas as pd

from training.dataset import TrainingData

_SERVICE_VERSION = re.compile(r"_v(\d+)(_[0-9a-f]{6})?$")  # then a market's attribute set tag


def data_fingerprint(data: TrainingData) -> str:
    columns = ["listing_id", "event_timestamp", "label", *data.features]
    digest = hashlib.sha256()
    digest.update(repr((data.features, sorted(data.categorical), data.source)).encode())
    row_hashes = pd.util.hash_pandas_object(data.frame[columns], index=False)
    digest.update(row_hashes.to_numpy().tobytes())
    return f"sha256:{digest.hexdigest()}"


def feature_service_version(name: str) -> int | None:
    """`valuation_v3` -> 3 (`cardekho_valuation_v1_3fa2c1` -> 1); None when the name carries no version."""
    match = _SERVICE_VERSION.search(name)
    return int(match.group(1)) if match else None
