"""Live accuracy benchmark: the embedded stack runs for some minutes and the outcomes of the
streamed listings judge the valuations users saw.

    python -m bench.bench_live_accuracy [--minutes 10] [--rate 20] [--home DIR]

In a temporary AUTOVALUE_HOME it runs `autovalue setup` (market, features, first champion),
unless --home names one that has them. Then, each a process of its own on free ports: broker,
serve, score, market-feed, outcomes, and simulate at a steady rate for the given minutes. It then waits for
the outcome consumer to store every outcome the simulator sent, stops everything (SIGTERM to
each process group), and reports the figures of autovalue.accuracy over the outcomes of the run:
bench/results/live_accuracy.json.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from autovalue import accuracy
from autovalue.service_paths import READY_PATH
from deploy.processes import answers, autovalue_command, settings_environment, stop_process_group
from autovalue.settings import Settings
from autovalue.tables import connect
from bench.common import write_result
from bench.stack import free_port
from market.io import read_meta



class Stack:
    """Child processes in their own process groups, logging to <home>/bench-logs/."""

    def __init__(self, settings: Settings) -> None:
        self.env = settings_environment(settings)
        self.logs = settings.home / "bench-logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.processes: dict[str, subprocess.Popen] = {}

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def run(self, *args: str) -> None:
        with open(self.logs / f"{args[0]}.log", "ab") as output:
            subprocess.run(autovalue_command(*args), env=self.env,
                           stdout=output, stderr=subprocess.STDOUT, check=True)

    def start(self, name: str, *args: str) -> subprocess.Popen:
        output = open(self.logs / f"{name}.log", "ab")
        process = subprocess.Popen(autovalue_command(*args), env=self.env,
                                   stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[name] = process
        return process

    def wait_for(self, what: str, ready, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not ready():
            for name, process in self.processes.items():
                if process.poll() is not None and name != "simulator":
                    raise SystemExit(f"{name} exited with {process.returncode} while waiting for {what}: "
                                     f"see {self.logs / name}.log")
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what} (logs: {self.logs})")
            time.sleep(0.2)

    def start_valuing(self, settings: Settings, market_feed: bool = True) -> None:
        """Broker, service, scorer, the market feed (unless told not to) and the outcome consumer,
        waited for until both consumers are in their groups."""
        self.start("broker", "broker")
        self.wait_for("the broker and its topics", lambda: "tansu broker on" in self.log("broker"), 60)
        self.start("service", "serve")
        self.wait_for("the valuation service", lambda: answers(settings.service_url + READY_PATH), 180)
        self.start("scorer", "score")
        if market_feed:
            self.start("market-feed", "market-feed")  # the live market statistics the service values with
        self.start("outcomes", "outcomes")
        self.wait_for("the scorer and the outcome consumer in their groups", lambda: (
            "scoring: assigned" in self.log("scorer") and "outcomes: assigned" in self.log("outcomes")), 120)

    def wait_for_outcomes(self, settings: Settings, started: datetime, sent: int, timeout_s: float) -> None:
        """Every outcome the simulator sent stored, and joined where it can be: those stored before
        their valuation are joined within outcomes_join_interval_s; a listing the service refused
        never is (it is reported as not joined)."""
        self.wait_for("every outcome stored", lambda: stored_outcomes(settings, started)[0] == sent, timeout_s)
        deadline = time.monotonic() + 3 * settings.outcomes_join_interval_s
        while stored_outcomes(settings, started)[1] < sent and time.monotonic() < deadline:
            time.sleep(0.5)

    def stop(self) -> None:
        """Last started first, each process group waited for before the next: the consumers
        leave their groups while the broker is still there."""
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                stop_process_group(process, timeout=30)


def stored_outcomes(settings: Settings, since: datetime) -> tuple[int, int]:
    """(outcomes stored since `since`, of which joined to their valuation)."""
    engine = connect(settings.database)
    frame = accuracy.read_outcomes(engine, since)
    engine.dispose()
    return len(frame), int(frame["predicted_price"].notna().sum())


def run_stack(settings: Settings, minutes: float, rate: float, started: datetime) -> dict:
    stack = Stack(settings)
    try:
        stack.start_valuing(settings)
        simulator = stack.start("simulator", "simulate", "--rate", str(rate), "--duration", str(minutes * 60),
                                "--bad-share", "0.02")
        stack.wait_for(f"{minutes:g} minutes of simulated listings", lambda: simulator.poll() is not None,
                       minutes * 60 + 120)
        summary = stack.log("simulator").strip().splitlines()[-1]
        sent = int(re.search(r"and ([\d,]+) outcomes", summary).group(1).replace(",", ""))
        stack.wait_for_outcomes(settings, started, sent, 120)
    finally:
        stack.stop()
    return {"simulator": summary, "outcomes_sent": sent, "logs": str(stack.logs)}


def rounded(value) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 4)


def _rated(shares: dict[str, float]) -> dict[str, float]:
    rated = {k: v for k, v in shares.items() if k != accuracy.NO_RATING}
    total = sum(rated.values())
    return {k: round(v / total, 4) for k, v in rated.items()} if total else {}


def perfect_model(sales: np.ndarray, noise_sigma: float | None, draws: int = 20_000) -> dict | None:
    """What the per-model check gives a model that knows every listing's true value, for car
    models with these numbers of sales: the simulated sale differs from the true value by the
    generator's noise alone (log-normal, `noise_sigma`), so each model's median sold / value
    still strays. Monte Carlo: the expected number of models outside the tolerance, and the
    chance that none is."""
    if not noise_sigma or not len(sales):
        return None
    rng = np.random.default_rng(0)
    outside = []
    for n in sales:
        medians = np.median(np.exp(rng.normal(0.0, noise_sigma, (draws, int(n)))), axis=1)
        outside.append(float(np.mean(np.abs(medians - 1) > accuracy.BIAS_TOLERANCE)))
    return {"noise_sigma": round(noise_sigma, 4), "expected_models_outside": round(sum(outside), 2),
            "chance_none_outside": round(float(np.prod(1 - np.array(outside))), 3)}


def report(settings: Settings, started: datetime) -> dict:
    engine = connect(settings.database)
    frame = accuracy.read_outcomes(engine, started)
    engine.dispose()
    figures = accuracy.summary(frame)
    bias = accuracy.model_bias(frame)
    meta = read_meta(settings.raw_dir, settings.market_source)
    floor = meta.get("noise_floor_mape")
    big = bias[bias["sold"] >= accuracy.MIN_MODEL_OUTCOMES]

    def car(row) -> dict:
        return {"car": f"{row['brand']} {row['model']}",
                "median_sold_over_estimate": round(float(row["median_ratio"]), 4), "sales": int(row["sold"])}

    def extreme(rows, pick) -> dict | None:
        return None if rows.empty else car(rows.loc[pick(rows["bias"])])

    return {
        "outcomes": figures.outcomes, "outcomes_joined": figures.joined, "sales_judged": figures.sold,
        "mape": figures.mape, "noise_floor_mape": floor,
        "mape_over_noise_floor": figures.mape / floor if figures.mape is not None and floor else None,
        "interval_coverage": figures.coverage, "rating_shares": figures.rating_shares,
        # Among rated valuations only: what the deal bands imply is 10 / 20 / 40 / 20 / 10%.
        "rated_shares": _rated(figures.rating_shares),
        "by_confidence": [{"confidence": c, "sales": int(n), "mape": rounded(m), "coverage": rounded(v)}
                          for c, n, m, v in accuracy.by_confidence(frame).itertuples(index=False)],
        "bias_all_models": {"models": len(bias), "min": extreme(bias, lambda b: b.idxmin()),
                            "max": extreme(bias, lambda b: b.idxmax())},
        f"bias_models_with_{accuracy.MIN_MODEL_OUTCOMES}_sales": {
            "models": len(big), "min": extreme(big, lambda b: b.idxmin()), "max": extreme(big, lambda b: b.idxmax()),
            "outside_tolerance": [car(row) for _, row in bias[bias["flagged"]].iterrows()],
            "clearly_biased": [car(row) for _, row in bias[bias["clearly_biased"]].iterrows()],
            "a_perfect_model": perfect_model(big["sold"].to_numpy(), meta.get("noise_sigma"))},
        "per_minute": [{"time": t.isoformat(), "outcomes": int(o), "sales": int(s), "mape": rounded(m),
                        "coverage": rounded(c)} for t, o, s, m, c in accuracy.over_time(frame).itertuples(index=False)],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of simulated listings")
    parser.add_argument("--rate", type=float, default=20.0, help="simulated listings per second")
    parser.add_argument("--home", type=Path, help="an AUTOVALUE_HOME that already has market, features, champion")
    args = parser.parse_args()

    home = args.home.resolve() if args.home else Path(tempfile.mkdtemp(prefix="bench-accuracy-"))
    service_port = free_port()
    settings = Settings(home=home, kafka_bootstrap=f"127.0.0.1:{free_port()}", service_port=service_port,
                        service_url=f"http://127.0.0.1:{service_port}")
    if not args.home:
        print(f"autovalue setup in {home} (market, features, first champion)", flush=True)
        setup_started = time.monotonic()
        Stack(settings).run("setup")
        print(f"setup took {time.monotonic() - setup_started:.0f} s", flush=True)
    elif not (settings.models_dir / "champion.json").exists():
        raise SystemExit(f"{home} has no champion: run `autovalue setup` there first, or leave out --home")
    started = datetime.now(timezone.utc)
    run = run_stack(settings, args.minutes, args.rate, started)
    result = {"minutes": args.minutes, "rate": args.rate, "market_days_per_minute": settings.market_days_per_minute,
              "home": str(home), **run, **report(settings, started)}
    write_result("live_accuracy", result)
    big = result[f"bias_models_with_{accuracy.MIN_MODEL_OUTCOMES}_sales"]
    print(f"\noutcomes joined {result['outcomes_joined']:,} of {result['outcomes']:,} "
          f"(sales judged {result['sales_judged']:,})")
    if result["mape"] is not None:
        print(f"live MAPE {result['mape']:.2%} = {result['mape_over_noise_floor']:.2f} x noise floor "
              f"{result['noise_floor_mape']:.2%}; 80% interval coverage {result['interval_coverage']:.1%}")
    print("deal ratings: " + ", ".join(f"{k} {v:.1%}" for k, v in sorted(result["rating_shares"].items())))
    print("deal ratings among rated valuations (the bands imply great 10, good 20, fair 40, high 20, "
          "overpriced 10%): " + ", ".join(f"{k} {v:.1%}" for k, v in sorted(result["rated_shares"].items())))
    for level in result["by_confidence"]:
        print(f"confidence {level['confidence']}: {level['sales']:,} sales, MAPE {level['mape']:.2%}, "
              f"coverage {level['coverage']:.1%}")

    def cars(*picked) -> str:
        return ", ".join(f"{c['car']} {c['median_sold_over_estimate']:.3f} ({c['sales']} sales)"
                         for c in picked if c) or "none"

    every = result["bias_all_models"]
    print(f"median sold / estimate, all {every['models']} models: min {cars(every['min'])}, max {cars(every['max'])}")
    print(f"median sold / estimate, {big['models']} models with >= {accuracy.MIN_MODEL_OUTCOMES} sales: "
          f"min {cars(big['min'])}, max {cars(big['max'])}")
    print(f"models with >= {accuracy.MIN_MODEL_OUTCOMES} sales outside ±{accuracy.BIAS_TOLERANCE:.0%}: "
          f"{cars(*big['outside_tolerance'])}; clearly biased (95% interval outside): {cars(*big['clearly_biased'])}")
    if big["a_perfect_model"]:
        perfect = big["a_perfect_model"]
        print(f"a perfect model on these sales counts: {perfect['expected_models_outside']} models outside "
              f"±{accuracy.BIAS_TOLERANCE:.0%} expected, none outside with chance {perfect['chance_none_outside']:.0%}")


if __name__ == "__main__":
    main()
