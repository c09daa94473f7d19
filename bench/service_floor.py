"""What a valuation costs inside one worker, without HTTP: the floor under bench_service's figures.

The service's own steps on the same champion, store and listings as its HTTP runs, timed in this
process (one thread, as a worker runs one request at a time; the valuator keeps the service's
XGBoost threads for batches): the request body parsed into listings, the market read, the
valuation (price, interval, confidence, deal rating, value drivers, checked against the
contract) and the response written. A worker cannot answer faster than this; the bare endpoint
skips all of it but the model.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Annotated

from pydantic import Field, TypeAdapter

from autovalue.settings import Settings


def _median_ms(call: Callable[[], object], repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds) * 1000


def in_process_floor(settings: Settings, pool: list[dict], batch: int, repeats: int = 30) -> dict:
    """Median milliseconds of each step for one listing and for `batch` listings."""
    from autovalue.market_attributes import parse_attributes
    from training.export import load_from_bento_store
    from autovalue.schema import listing_model
    from autovalue.valuation import VALUATION_LIST
    from bento.market import MarketReader
    from bento.valuator import Valuator
    from feature_repo.config import feature_store

    bundle = load_from_bento_store(settings, "v1")
    served = listing_model(parse_attributes(bundle.metadata.get("attributes")), bundle.metadata.get("currency"))
    parser = TypeAdapter(Annotated[list[served], Field(min_length=1)])
    market = MarketReader(feature_store(settings), bundle.metadata["feature_service"],
                          cache_s=settings.service_feature_cache_s, model_features=bundle.row_features)
    valuator = Valuator(bundle, market, settings.service_value_drivers, settings.service_batch_threads,
                        settings.service_threads_from_rows, settings.confidence_market_stale_s)
    out = {}
    for name, size in (("one", 1), (f"batch_{batch}", batch)):
        body = json.dumps((pool * (1 + size // len(pool)))[:size]).encode()
        listings = parser.validate_json(body)
        read = valuator.read(listings)
        valuations = valuator.valuate(listings, read)
        valuator.valuate(listings)  # warm: lazy paths and the threaded explainer
        steps = {"parse_ms": _median_ms(lambda: parser.validate_json(body), repeats),
                 "read_ms": _median_ms(lambda: valuator.read(listings), repeats),
                 "valuate_ms": _median_ms(lambda: valuator.valuate(listings, read), repeats),
                 "dump_ms": _median_ms(lambda: VALUATION_LIST.dump_json(valuations), repeats)}
        steps["total_ms"] = sum(steps.values())
        out[name] = {key: round(value, 3) for key, value in steps.items()}
    return out


def floor_table(floor: dict, batch: int) -> str:
    """The in-process steps, and the rate they alone would allow with both cores busy."""
    lines = ["| in process, no HTTP | parse ms | read ms | valuate ms | dump ms | total ms | at most, 2 cores |",
             "|---|---|---|---|---|---|---|"]
    for name, steps in floor.items():
        rows = 1 if name == "one" else batch
        unit = "req/s" if rows == 1 else "rows/s"
        lines.append(f"| {name.replace('_', ' ')} | {steps['parse_ms']:.2f} | {steps['read_ms']:.2f} | "
                     f"{steps['valuate_ms']:.2f} | {steps['dump_ms']:.2f} | {steps['total_ms']:.2f} | "
                     f"{2 * rows / steps['total_ms'] * 1000:,.0f} {unit} |")
    return "\n".join(lines)
