"""Feast benchmark: point-in-time dataset for 1M entity rows (time, peak memory) and online
reads of the feature service for 1 and 500 entities, SQLite versus Redis.

    python -m bench.bench_features [--entities 1000000] [--runs 3]
    python -m bench.bench_features --curve 100000,300000,1000000,3000000 [--runs 3]

`--curve`: the dataset's time and peak memory at each size, each on a market of its own (1.7
listings per entity row, as the 1M figure's); results/features_curve.json, and nothing else.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

from bench.common import median, percentiles, write_result


def _settings(home: Path, production: bool = False, project: str = "autovalue"):
    from autovalue.settings import Settings

    if production:
        return Settings(home=home, feast_mode="production", feast_project=project,
                        feast_registry_url="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    return Settings(home=home)


def prepare(home: Path, listings: int) -> None:
    from feature_repo.pipeline import build_features
    from market.generate import generate_market
    from market.io import read_source

    settings = _settings(home)
    generate_market(settings.raw_dir, listings, 42, date.today() - timedelta(days=1), 730, progress=False)
    build_features(settings, read_source(settings.raw_dir, "market"), progress=False)


def dataset_child(home: Path, entities: int) -> None:
    """Run in a fresh process so ru_maxrss is this step's peak. The libraries are imported
    before the clock starts (a retrain's process imports them once): `import_s` apart."""
    started = time.perf_counter()
    import feature_repo.config  # noqa: F401  (feast)
    from training.dataset import build_dataset

    import_s = time.perf_counter() - started
    settings = _settings(home)
    started = time.perf_counter()
    data = build_dataset(settings, limit=entities)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"entity_rows": entities, "rows": len(data.frame), "asking_rows": len(data.asking),
                      "seconds": seconds, "import_s": import_s, "peak_mb": peak_mb,
                      "equals_feast_on_2000_rows": _equals_feast(settings, data)}))


def _equals_feast(settings, data, rows: int = 2000) -> bool:
    """The dataset's market features for a sample of its rows, against Feast's own join."""
    import numpy as np
    import pandas as pd

    from feature_repo.config import feature_store
    from feature_repo.service_features import ServiceFeatures

    spec = ServiceFeatures(feature_store(settings), data.feature_service)
    sample = data.frame.sample(min(rows, len(data.frame)), random_state=7).reset_index(drop=True)
    entity = pd.DataFrame({"row_id": range(len(sample)), "model_key": sample["model_key"],
                           "brand_key": sample["car_brand"], "segment": sample["car_body"],
                           "event_timestamp": sample["event_timestamp"]})
    feast = spec.feast_historical(entity)
    return all(np.array_equal(np.asarray(feast[name], dtype=float), sample[name].to_numpy(dtype=float), equal_nan=True)
               for name in feast)


def online_reads(settings, calls: int) -> dict:
    import pandas as pd

    from autovalue.feature_inputs import feature_inputs
    from feature_repo.config import feature_store
    from market.io import read_source

    from feature_repo.service_features import ServiceFeatures

    store = feature_store(settings)
    service = store.get_feature_service(settings.feature_service)
    reader = ServiceFeatures(store, settings.feature_service)
    raw = read_source(settings.raw_dir, "market").sample(500, random_state=1)
    raw["listed_at"] = pd.Timestamp.now(tz="UTC")
    columns = {c: raw[c].tolist() for c in ["brand", "model", "listed_at", "year", "mileage_km", "fuel",
                                             "transmission", "body_type", "region", "seller_type"]}
    readers = {
        "feast_get_online_features": lambda rows: store.get_online_features(features=service, entity_rows=rows).to_dict(),
        "service_features_read_online": lambda rows: reader.read_online(rows, with_timestamps=True),
    }
    out = {}
    for name, read in readers.items():
        for size in (1, 500):
            rows = feature_inputs({k: v[:size] for k, v in columns.items()})
            for _ in range(20):
                read(rows)
            gc.collect()
            gc.freeze()  # as the service does after warm-up: long-lived objects leave the GC's scans
            samples = []
            for _ in range(calls):
                started = time.perf_counter()
                read(rows)
                samples.append((time.perf_counter() - started) * 1000)
            out[f"{name}_{size}_entities"] = percentiles(samples)
    return out


def _dataset_runs(home: Path, entities: int, runs: int) -> list[dict]:
    """Each run in a fresh process, so its peak memory is the dataset's alone."""
    out = []
    for _ in range(runs):
        output = subprocess.run([sys.executable, "-m", "bench.bench_features", "--child", str(home), str(entities)],
                                check=True, capture_output=True, text=True).stdout
        out.append(json.loads(output.strip().splitlines()[-1]))
    return out


def cost_curve(sizes: list[int], runs: int) -> None:
    """Each size on a market of its own, sized as the 1M benchmark's (1.7 listings per entity
    row): the dataset reads its whole market, so a small dataset of a large market costs what
    the market does."""
    points = []
    for entities in sorted(sizes):
        home = Path(tempfile.mkdtemp(prefix="bench-features-curve-"))
        started = time.perf_counter()
        prepare(home, int(entities * 1.7))
        prepare_s = time.perf_counter() - started
        measured = _dataset_runs(home, entities, runs)
        points.append({"entity_rows": entities, "sales_rows": measured[0]["rows"], "market_listings": int(entities * 1.7),
                       "seconds_median": round(median([r["seconds"] for r in measured]), 2),
                       "peak_mb_median": round(median([r["peak_mb"] for r in measured])),
                       "generate_and_build_features_s": round(prepare_s, 1), "runs": measured})
        print(json.dumps(points[-1]), flush=True)
        shutil.rmtree(home, ignore_errors=True)
    write_result("features_curve", {"points": points})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--curve", help="entity row counts, comma-separated: the cost curve alone")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        dataset_child(Path(args.child[0]), int(args.child[1]))
        return
    if args.curve:
        cost_curve([int(n) for n in args.curve.split(",")], args.runs)
        return

    home = Path(tempfile.mkdtemp(prefix="bench-features-"))
    # Enough listings that more than `entities` of them are sales.
    started = time.perf_counter()
    prepare(home, int(args.entities * 1.7))
    prepare_s = time.perf_counter() - started
    runs = _dataset_runs(home, args.entities, args.runs)

    from feature_repo.pipeline import build_features
    from market.io import read_source

    embedded = _settings(home)
    production = _settings(home, production=True, project=f"bench_{uuid.uuid4().hex[:6]}")
    build_features(production, read_source(embedded.raw_dir, "market"), progress=False)
    online = {"sqlite": online_reads(embedded, args.calls), "redis": online_reads(production, args.calls)}
    from feature_repo.config import feature_store

    feature_store(production).teardown()
    write_result("features", {
        "generate_and_build_features_s": round(prepare_s, 1),
        "dataset": {"entity_rows": args.entities, "sales_rows": runs[0]["rows"], "seconds_median": round(median([r["seconds"] for r in runs]), 2),
                    "peak_mb_median": round(median([r["peak_mb"] for r in runs])), "runs": runs},
        "online": online,
    })


if __name__ == "__main__":
    main()
