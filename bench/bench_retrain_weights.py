"""Could a retrain beat the champion on the closed loop's stream? Challengers with and without
recency weights (AUTOVALUE_TRAIN_RECENCY_HALF_LIFE_DAYS), judged as `autovalue retrain` judges them.

It takes the home a closed-loop arm left (`python -m bench.bench_loop --arms live --home DIR`: its
database holds the stream's valuations and outcomes), builds the landed history and its offline
statistics once, as `autovalue retrain` does, then trains one challenger per half-life (nothing is
promoted) and values the newest streamed sales (the retrain's judged share, from the champion's
own holdout start on) with the challenger and with the champion: all of them, the shocked
segment's and the launched model's.

    python -m bench.bench_retrain_weights --home DIR [--half-lives none,30,90,180]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from autovalue.champion_pointer import read_champion
from autovalue.model_bundle import ModelBundle
from autovalue.settings import Settings
from bench.common import write_result


def _slices(rows: pd.DataFrame, segment: str, launched: str) -> dict[str, np.ndarray]:
    body, model = rows["car_body"].astype(str).str.lower(), rows["car_model"].astype(str).str.lower()
    return {"all": np.ones(len(rows), dtype=bool), "shocked segment": (body == segment.lower()).to_numpy(),
            "launched model": model.str.contains(launched.lower(), regex=False).to_numpy()}


def main() -> None:
    from feature_repo.pipeline import build_features
    from market.scenarios import LAUNCHED_MODEL
    from training import retrain
    from training.dataset import build_dataset
    from training.landed_history import landed_history, write_landed_history
    from training.pipeline import train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="the AUTOVALUE_HOME a bench_loop arm left")
    parser.add_argument("--half-lives", default="none,30,90,180", help="days, comma-separated ('none': unweighted)")
    args = parser.parse_args()
    settings = Settings(home=args.home.resolve())
    truth = json.loads(sorted((settings.data_dir / "simulations").glob("*.json"))[-1].read_text())
    segment = truth["shock"]["segment"]
    history = landed_history(settings)
    write_landed_history(settings, history)
    print(history.summary(), flush=True)
    started = time.perf_counter()
    build_features(settings, history.frame, progress=False, source=settings.market_source, online=False)
    data = build_dataset(settings, settings.market_source, raw=history.frame)
    prepared_s = time.perf_counter() - started
    champion = ModelBundle.load(settings.models_dir / read_champion(settings.models_dir))
    start = pd.Timestamp(champion.metadata["split"]["holdout_start"])
    variants = []
    for half_life in args.half_lives.split(","):
        own = settings.model_copy(update={"train_recency_half_life_days": None if half_life == "none" else float(half_life)})
        started = time.perf_counter()
        result = train(own.model_copy(update={"train_holdout_fraction": retrain.holdout_fraction(own, history, len(data.frame))}),
                       data, split="time", progress=False, decide_champion=False, baselines=False)
        judgement = retrain.judge(own, result.bundle, result.holdout)
        rows = result.holdout[pd.to_datetime(result.holdout["event_timestamp"], utc=True) >= start]
        challenger_ape = retrain.abs_pct_errors(result.bundle, rows)
        champion_ape = retrain.abs_pct_errors(champion, rows)
        variant = {"half_life_days": half_life, "train_s": round(time.perf_counter() - started, 1),
                   "promoted": judgement.promote, "reason": judgement.reason}
        for name, mask in _slices(rows, segment, LAUNCHED_MODEL["model"]).items():
            variant[name] = {"sales": int(mask.sum()), "challenger_mape": round(float(challenger_ape[mask].mean()), 4),
                             "champion_mape": round(float(champion_ape[mask].mean()), 4)}
        variants.append(variant)
        print(json.dumps(variant), flush=True)
    write_result("retrain_weights", {"home": str(settings.home), "history": history.summary(),
                                     "features_and_dataset_s": round(prepared_s, 1), "champion": champion.version,
                                     "shocked_segment": segment, "variants": variants})


if __name__ == "__main__":
    main()
