"""The baseline for the service benchmark: a bare BentoML endpoint that only runs the champion on
rows already encoded (no Feast read, no validation of listings, no interval, rating or drivers).
The same champion, store and worker count as the valuation service, so the difference is theirs.

    POST /predict        {"rows": [[float|NaN, ...]]}  -> [price, ...]
    POST /predict_batch  the same, with BentoML adaptive batching as /valuate_batch has
"""

from __future__ import annotations

from pathlib import Path

import bentoml
import numpy as np

from autovalue.settings import get_settings
from bento.champion import champion_tag

SETTINGS = get_settings()


@bentoml.service(name="autovalue-bare", workers=SETTINGS.service_workers)
class BareModel:
    champion = bentoml.models.BentoModel(champion_tag(SETTINGS))

    def __init__(self) -> None:
        import gc

        from autovalue.model_bundle import ModelBundle

        self.bundle = ModelBundle.load(Path(type(self).champion.stored.path))
        self._predict([[0.0] * len(self.bundle.features)])
        gc.collect()
        gc.freeze()  # as the valuation service does

    def _predict(self, rows: list[list[float]]) -> list[float]:
        return np.exp(self.bundle.predict_log(np.asarray(rows, dtype=np.float32))).tolist()

    @bentoml.api(route="/predict")
    def predict(self, rows: list[list[float]]) -> list[float]:
        return self._predict(rows)

    @bentoml.api(route="/predict_batch", batchable=True, max_batch_size=SETTINGS.service_batching_max_size,
                 max_latency_ms=SETTINGS.service_batching_max_latency_ms)
    def predict_batch(self, rows: list[list[float]]) -> list[float]:
        return self._predict(rows)
