"""Closed-loop benchmark (issue 17): one compressed stream of `--days` simulated days under the
shock+launch scenario, in three arms that each start from the same first champion:

- frozen: the first champion on the market statistics of set-up (no market feed, no retraining).
  The stream is dated on the market's calendar, so the running service finds those statistics
  past their 2-day TTL at the listing's moment and values without them, as with a stopped feed
  (recorded as `served_without_feed`); the arm's figures re-value its stored listings after the
  fact on the same statistics, never expiring (bench/frozen_rescore.py);
- live features: the market feed keeps the statistics fresh, no retraining;
- loop: live features and `autovalue retrain --every-days 30` (what `make demo` runs).

    python -m bench.bench_loop [--days 120] [--rate 20] [--home DIR] [--arms frozen,live,loop]

`autovalue setup` runs once (or --home names a home that has a champion); each arm then runs in
a fresh copy of that home at the same path, with its own broker, service, scorer and outcome
consumer, and the simulator on the same seed. The stream runs TAIL_DAYS beyond `--days` so that
the last windows' sales come due. Live MAPE per 7-simulated-day window (by the day a listing was
listed), over all sales, the shocked segment and the launched model, against the market's noise
floor: results/loop.json and results/loop.png.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select

from autovalue.settings import Settings
from autovalue.tables import connect, outcomes, valuations
from bench import frozen_rescore
from bench.bench_live_accuracy import Stack
from bench.common import RESULTS, write_result
from bench.stack import free_port
from market.io import read_meta
from market.scenarios import LAUNCHED_MODEL

ARMS = ("frozen", "live", "loop")
WINDOW_DAYS = 7
TAIL_DAYS = 30  # the stream runs on so that most sales of the last window come due
SEED = 11
GOAL_OVER_FLOOR = 1.25


def run_arm(arm: str, settings: Settings, days: float, rate: float, every_days: float, logs: Path) -> dict:
    stack = Stack(settings)
    stack.logs = logs / arm
    stack.logs.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc)
    minutes = (days + TAIL_DAYS) / settings.market_days_per_minute
    try:
        stack.start_valuing(settings, market_feed=arm != "frozen")
        if arm == "loop":
            stack.start("retrain", "retrain", "--every-days", str(every_days))
        simulator = stack.start("simulator", "simulate", "--rate", str(rate), "--duration", str(minutes * 60),
                                "--scenario", "shock+launch", "--seed", str(SEED))
        print(f"{arm}: {days + TAIL_DAYS:g} simulated days in {minutes:.1f} min", flush=True)
        stack.wait_for("the simulated stream", lambda: simulator.poll() is not None, minutes * 60 + 180)
        summary = stack.log("simulator").strip().splitlines()[-1]
        sent = int(re.search(r"and ([\d,]+) outcomes", summary).group(1).replace(",", ""))
        truth_path = Path(re.search(r"ground truth in (\S+)", summary).group(1))
        stack.wait_for_outcomes(settings, started, sent, 300)
    finally:
        stack.stop()
    retrains = [line for line in (stack.log("retrain") if arm == "loop" else "").splitlines()
                if line.startswith(("retrain", "challenger"))]
    return {"simulator": summary, "outcomes_sent": sent, "retrains": retrains, "logs": str(stack.logs),
            "truth": json.loads(truth_path.read_text()), "sales": judged_sales(settings, started)}


def judged_sales(settings: Settings, since: datetime) -> pd.DataFrame:
    """Every sale of the arm with the valuation users saw: its listing time, segment and model."""
    statement = (select(outcomes.c.brand, outcomes.c.model, outcomes.c.sold_price, outcomes.c.predicted_price,
                        outcomes.c.abs_pct_error, valuations.c.listed_at, valuations.c.body_type,
                        valuations.c.model_version, valuations.c.id.label("valuation_id"))
                 .join(valuations, outcomes.c.valuation_id == valuations.c.id)
                 .where(outcomes.c.outcome_at >= since, outcomes.c.outcome == "sold"))
    engine = connect(settings.database)
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(statement).mappings().all())
    engine.dispose()
    return frame


def simulated_day(listed_at: pd.Series, truth: dict) -> pd.Series:
    """The stream day a listing was drawn on: listings are dated on the market's calendar."""
    return (pd.to_datetime(listed_at, utc=True) - pd.Timestamp(truth["stream_day_0"])).dt.total_seconds() / 86_400


def windows(sales: pd.DataFrame, truth: dict, days: float) -> list[dict]:
    day = simulated_day(sales["listed_at"], truth)
    shocked = sales["body_type"] == truth["shock"]["segment"]
    launched = (sales["brand"] == LAUNCHED_MODEL["brand"]) & (sales["model"] == LAUNCHED_MODEL["model"])
    rows = []
    for start in range(0, int(days), WINDOW_DAYS):
        inside = (day >= start) & (day < min(start + WINDOW_DAYS, days))

        def figure(mask) -> tuple[int, float | None]:
            errors = sales.loc[inside & mask, "abs_pct_error"].dropna()
            return len(errors), (round(float(errors.mean()), 5) if len(errors) else None)

        (n, mape), (n_shock, mape_shock), (n_launch, mape_launch) = (
            figure(True), figure(shocked), figure(launched))
        versions = sales.loc[inside, "model_version"].value_counts().to_dict()
        rows.append({"start_day": start, "sales": n, "mape": mape, "shocked_sales": n_shock,
                     "shocked_mape": mape_shock, "launched_sales": n_launch, "launched_mape": mape_launch,
                     "versions": {str(k): int(v) for k, v in versions.items()}})
    return rows


def first_new_version_day(sales: pd.DataFrame, truth: dict) -> float | None:
    """The simulated day of the first listing valued by another model than the first champion."""
    first = sales.sort_values("listed_at")["model_version"].iloc[0] if len(sales) else None
    later = sales[sales["model_version"] != first]
    return None if later.empty else round(float(simulated_day(later["listed_at"], truth).min()), 1)


def segment_mape(sales: pd.DataFrame, truth: dict, mask_name: str, since_day: float, days: float) -> dict:
    day = simulated_day(sales["listed_at"], truth)
    mask = (day >= since_day) & (day < days)
    if mask_name == "shocked":
        mask &= sales["body_type"] == truth["shock"]["segment"]
    elif mask_name == "launched":
        mask &= (sales["brand"] == LAUNCHED_MODEL["brand"]) & (sales["model"] == LAUNCHED_MODEL["model"])
    errors = sales.loc[mask, "abs_pct_error"].dropna()
    return {"sales": len(errors), "mape": round(float(errors.mean()), 5) if len(errors) else None}


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    floor = result["noise_floor_mape"]
    panels = [("mape", "all sales"), ("shocked_mape", f"shocked segment ({result['shocked_segment']})"),
              ("launched_mape", f"launched model ({LAUNCHED_MODEL['brand']} {LAUNCHED_MODEL['model']})")]
    figure, axes = plt.subplots(len(panels), 1, figsize=(9, 9), sharex=True)
    for axis, (key, title) in zip(axes, panels):
        for arm, outcome in result["arms"].items():
            points = [(w["start_day"] + min(WINDOW_DAYS, result["days"] - w["start_day"]) / 2, w[key])
                      for w in outcome["windows"] if w[key] is not None]
            if points:
                axis.plot(*zip(*points), marker="o", label=arm)
        if floor:
            axis.axhline(floor, color="grey", linestyle=":", label="noise floor")
            axis.axhline(GOAL_OVER_FLOOR * floor, color="grey", linestyle="--", label=f"{GOAL_OVER_FLOOR} x floor")
        shock = result["shock"]
        axis.axvspan(shock["start_day"], shock["end_day"], color="orange", alpha=0.15)
        loop = result["arms"].get("loop", {})
        if loop.get("first_new_version_day") is not None:
            axis.axvline(loop["first_new_version_day"], color="green", linestyle="-.", label="first promotion (loop)")
        axis.set_title(title)
        axis.set_ylabel("live MAPE")
        axis.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    axes[0].legend(fontsize=8)
    axes[-1].set_xlabel("simulated day the listing was listed (shaded: the shock)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=float, default=120.0, help=f"simulated days judged (the stream runs {TAIL_DAYS} more)")
    parser.add_argument("--rate", type=float, default=20.0, help="simulated listings per second")
    parser.add_argument("--home", type=Path, help="an AUTOVALUE_HOME that already has market, features, champion")
    parser.add_argument("--retrain-every-days", type=float, default=30.0, help="the loop arm's retraining interval")
    parser.add_argument("--arms", default=",".join(ARMS), help="which arms, comma-separated")
    args = parser.parse_args()
    arms = [a for a in args.arms.split(",") if a]
    if not set(arms) <= set(ARMS):
        raise SystemExit(f"--arms: one or more of {', '.join(ARMS)}")

    home = args.home.resolve() if args.home else Path(tempfile.mkdtemp(prefix="bench-loop-")) / "home"
    service_port = free_port()
    settings = Settings(home=home, kafka_bootstrap=f"127.0.0.1:{free_port()}", service_port=service_port,
                        service_url=f"http://127.0.0.1:{service_port}")
    logs = home.parent / f"{home.name}-logs"
    if not (settings.models_dir / "champion.json").exists():
        print(f"autovalue setup in {home} (market, features, first champion)", flush=True)
        home.mkdir(parents=True, exist_ok=True)
        Stack(settings).run("setup")
    snapshot = home.parent / f"{home.name}-setup"
    if not snapshot.exists():
        shutil.copytree(home, snapshot, symlinks=True)
    meta = read_meta(settings.raw_dir, settings.market_source)
    result: dict = {"days": args.days, "rate": args.rate, "market_days_per_minute": settings.market_days_per_minute,
                    "retrain_every_days": args.retrain_every_days, "seed": SEED, "window_days": WINDOW_DAYS,
                    "noise_floor_mape": meta.get("noise_floor_mape"), "arms": {}}
    previous = json.loads((RESULTS / "loop.json").read_text()) if (RESULTS / "loop.json").is_file() else {}
    if all(previous.get(key) == result[key] for key in ("days", "rate", "market_days_per_minute",
                                                          "retrain_every_days", "seed")):
        result["arms"] = dict(previous.get("arms", {}))  # same parameters: re-measured arms replace theirs
    for arm in arms:
        shutil.rmtree(home)
        shutil.copytree(snapshot, home, symlinks=True)  # the same path: stored paths stay true
        outcome = run_arm(arm, settings, args.days, args.rate, args.retrain_every_days, logs)
        sales, truth = outcome.pop("sales"), outcome.pop("truth")
        outcome["measured_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        if arm == "frozen":
            # What the running service gave (the set-up statistics expired at the listings'
            # moments, as with a stopped feed); the arm itself: the same statistics, never expiring.
            outcome["served_without_feed"] = segment_mape(sales, truth, "all", 0, args.days)
            sales = frozen_rescore.rescore(settings, sales)
        result["shock"], result["shocked_segment"] = truth["shock"], truth["shock"]["segment"]
        result["launch_day"] = truth["launch"]["start_day"]
        outcome["windows"] = windows(sales, truth, args.days)
        outcome["first_new_version_day"] = first_new_version_day(sales, truth)
        outcome["shocked_after_shock"] = segment_mape(sales, truth, "shocked", truth["shock"]["start_day"], args.days)
        outcome["launched_after_launch"] = segment_mape(sales, truth, "launched", truth["launch"]["start_day"], args.days)
        outcome["all"] = segment_mape(sales, truth, "all", 0, args.days)
        result["arms"][arm] = outcome
        write_result("loop", result)  # after each arm: a stopped run keeps what it measured
    plot(result, RESULTS / "loop.png")
    floor = result["noise_floor_mape"]
    for arm, outcome in result["arms"].items():
        worst = max((w["mape"] for w in outcome["windows"] if w["mape"] is not None
                     and (outcome["first_new_version_day"] is None or w["start_day"] >= outcome["first_new_version_day"])),
                    default=np.nan)
        print(f"{arm}: MAPE {percent(outcome['all']['mape'])}; shocked segment after the shock "
              f"{percent(outcome['shocked_after_shock']['mape'])}; launched model "
              f"{percent(outcome['launched_after_launch']['mape'])}; worst window after its first new version "
              f"{percent(worst)} = {worst / floor:.2f} x floor")


def percent(value: float | None) -> str:
    """A MAPE, or "no sales" where a short run had none (before the shock or the launch)."""
    return "no sales" if value is None or np.isnan(value) else f"{value:.2%}"


if __name__ == "__main__":
    main()
