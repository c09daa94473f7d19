"""Training benchmark: `python -m bench.bench_training` (not a test: it takes minutes).

1. Speed: the whole `train()` pipeline (split, baselines, XGBoost, interval, plots, MLflow,
   export, champion) on a 1,000,000-row point-in-time dataset from the simulated market;
   median of several runs, with the time per step. Goal: under 3 minutes on 2 cores.
2. Quality at full size: holdout MAPE against the generator's noise floor, the baselines and
   the 80% interval coverage on a 200k-listing market, for several market seeds.

Writes bench/results/training.json. Each run uses its own throw-away project home, so the
project's MLflow registry and models/ are never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from autovalue.settings import QUIET_LIBRARIES, Settings

for _name, _value in QUIET_LIBRARIES.items():  # before anything imports bentoml or mlflow
    os.environ.setdefault(_name, _value)

from bench.simulated_dataset import simulated_training_data  # noqa: E402
from training.dataset import TrainingData  # noqa: E402
from training.dataset_files import load_dataset, save_dataset  # noqa: E402
from training.pipeline import train  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "training.json"
SOLD_SHARE = 0.6  # about 60% of simulated listings sell within the simulated period


def speed_dataset(rows: int, cache_dir: Path, seed: int) -> TrainingData:
    """A point-in-time dataset of exactly `rows` sales (the oldest ones), cached between runs."""
    path = cache_dir / f"bench_training_{rows}_{seed}.parquet"
    if path.is_file():
        return load_dataset(path)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        data = simulated_training_data(Path(tmp), int(rows / SOLD_SHARE * 1.05), seed)
        print(f"built the {len(data.frame):,}-row dataset in {time.perf_counter() - started:.0f} s")
    # Dropping the newest sales keeps every feature point-in-time: they only look back.
    data.frame = data.frame.head(rows)
    return load_dataset(save_dataset(data, path))


def bench_speed(rows: int, runs: int, cache_dir: Path) -> dict:
    data = speed_dataset(rows, cache_dir, seed=42)
    results = []
    for run in range(runs):
        with tempfile.TemporaryDirectory() as home:
            settings = Settings(home=Path(home))
            started = time.perf_counter()
            result = train(settings, data, progress=True)
            total = time.perf_counter() - started
        results.append({"total_s": round(total, 1), "steps_s": result.seconds,
                        "rounds": result.bundle.metadata["rounds"],
                        "xgboost_mape": result.metrics["xgboost"]["mape"]})
        print(f"run {run + 1}/{runs}: {total:.1f} s {result.seconds}")
    totals = [r["total_s"] for r in results]
    return {"rows": len(data.frame), "runs": results, "median_total_s": statistics.median(totals),
            "median_xgboost_s": statistics.median(r["steps_s"]["xgboost"] for r in results),
            "cpu_count": os.cpu_count(), "load_average_after": os.getloadavg()}


def bench_quality(listings: int, seeds: list[int]) -> dict:
    results = []
    for seed in seeds:
        with tempfile.TemporaryDirectory() as home:
            data = simulated_training_data(Path(home) / "market", listings, seed)
            result = train(Settings(home=Path(home)), data, progress=True)
        m = result.metrics
        row = {"seed": seed, "rows": len(data.frame), "noise_floor_mape": data.noise_floor_mape,
               **{f"{name}_mape": m[name]["mape"] for name in m},
               **{f"{name}_r2": m[name]["r2"] for name in m},
               "xgboost_mape_over_floor": m["xgboost"]["mape_over_noise_floor"],
               "interval_coverage": m["xgboost"]["interval_coverage"],
               "interval_relative_width": m["xgboost"]["interval_mean_relative_width"]}
        results.append(row)
        print(json.dumps(row))
    return {"listings": listings, "runs": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quality-listings", type=int, default=200_000)
    parser.add_argument("--quality-seeds", type=int, nargs="*", default=[1, 2, 3])
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    cache_dir = Settings().processed_dir
    cache_dir.mkdir(parents=True, exist_ok=True)
    out = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    if not args.skip_speed:
        out["speed"] = bench_speed(args.rows, args.runs, cache_dir)
    if not args.skip_quality:
        out["quality"] = bench_quality(args.quality_listings, args.quality_seeds)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2, default=str))
    if "speed" in out:
        print(f"speed: {out['speed']['rows']:,} rows, median {out['speed']['median_total_s']} s "
              f"(XGBoost {out['speed']['median_xgboost_s']} s)")
    for row in out.get("quality", {}).get("runs", []):
        print(f"quality seed {row['seed']}: XGBoost MAPE {row['xgboost_mape']:.2%} = "
              f"{row['xgboost_mape_over_floor']:.3f}x floor; LR {row['linear_regression_mape']:.2%}, "
              f"RF {row['random_forest_mape']:.2%}; coverage {row['interval_coverage']:.1%}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
