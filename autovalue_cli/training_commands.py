"""Commands of the training part: `autovalue train` and `autovalue report`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autovalue.settings import Settings, get_settings
from autovalue_cli.common import CommandError, add_command
from training.tracking import quiet_telemetry


def _load_training_data(settings: Settings, args: argparse.Namespace):
    if args.dataset:
        from pyarrow import ArrowException

        from training.dataset_files import load_dataset

        path = Path(args.dataset)
        if not path.is_file():
            raise CommandError(f"no dataset file {path}")
        try:
            return load_dataset(path)
        except (ArrowException, ValueError) as error:
            raise CommandError(f"{path} is not a stored training dataset: {str(error).splitlines()[0]}") from None
    from autovalue_cli.feature_commands import training_data  # the Feast point-in-time dataset

    return training_data(settings, args.source)


def cmd_train(args: argparse.Namespace) -> int:
    settings = get_settings()
    quiet_telemetry(settings)
    data = _load_training_data(settings, args)  # before the slow imports: a bad path fails at once
    from training.pipeline import train

    split = args.split or ("time" if data.has_dates else "random")
    if split == "time" and not data.has_dates:
        raise CommandError(f"{data.source} has no listing dates: no time split; use --split random")
    result = train(settings, data, split=split, seed=args.seed, force_promote=args.promote,
                   progress=not args.quiet)
    print(f"{result.version}: {data.source}, {len(data.frame):,} rows, {split} split; run {result.run_id}")
    for name, m in result.metrics.items():
        print(f"  {name:<18} MAPE {m['mape']:.2%}  median APE {m['median_ape']:.2%}  "
              f"MAE {m['mae']:,.0f}  R² {m['r2']:.3f}")
    xgb = result.metrics["xgboost"]
    print(f"  80% interval: coverage {xgb['interval_coverage']:.1%}, "
          f"mean width {xgb['interval_mean_relative_width']:.1%} of the price")
    if "mape_over_noise_floor" in xgb:
        print(f"  MAPE / noise floor: {xgb['mape_over_noise_floor']:.3f}")
    print(f"  exported to {result.directory} and BentoML {result.bento_tag}")
    print(f"  champion: {'promoted' if result.promoted else 'unchanged'} ({result.decision.reason})")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    settings = get_settings()
    from training.report import NoChampion, write_report

    try:
        card, out = write_report(settings, Path(args.out) if args.out else None)
    except NoChampion as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(card)
    print(f"model card and plots written to {out}")
    return 0


def cmd_parity(args: argparse.Namespace) -> int:
    settings = get_settings()
    from training.parity_samples import AGREEMENT_GOAL, ParityUnavailable, run_parity

    try:
        reports = run_parity(settings, args.holdout, args.stream)
    except ParityUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for report in reports:
        print("\n".join(report.lines()))
    if not reports:
        print("nothing to compare: no holdout or stream listings asked for or found")
    return 0 if all(report.agreement >= AGREEMENT_GOAL for report in reports) else 1


def cmd_baselines(args: argparse.Namespace) -> int:
    settings = get_settings()
    quiet_telemetry(settings)
    from training.baselines import NotApplicable, add_to_champion, missing_baselines

    try:
        missing = missing_baselines(settings)
        if missing is None:
            print("the champion's run has its baselines already")
            return 0
        from autovalue_cli.feature_commands import require_source
        from training.dataset import build_dataset

        data = build_dataset(settings, require_source(settings, args.source))
        metrics = add_to_champion(settings, data)
    except NotApplicable as error:
        raise CommandError(f"no baselines fitted: {error}") from None
    print(f"baselines of champion {missing[0]} (run {missing[1]}), on its holdout:")
    for name, m in metrics.items():
        print(f"  {name:<18} MAPE {m['mape']:.2%}  median APE {m['median_ape']:.2%}  R² {m['r2']:.3f}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    settings = get_settings()
    p = add_command(commands, "train", "train baselines and XGBoost, track in MLflow, export models/<version>/",
                    "Train a linear regression, a random forest and XGBoost on the point-in-time dataset, log "
                    "the run to MLflow, export models/v<N>/ and the BentoML model, and move the champion alias "
                    "when the new model beats the champion on the same holdout.")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--source", default=settings.market_source,
                        help="data/raw/<source>.parquet to build the dataset from")
    source.add_argument("--dataset",
                        help="a stored training dataset (.parquet, `autovalue dataset`) instead of building one")
    p.add_argument("--split", choices=["time", "random"],
                   help="time: hold out the most recent period (the default for dated data); random: seeded "
                        "(the default, and the only split, for undated data)")
    p.add_argument("--seed", type=int, default=settings.train_seed, help="random seed")
    p.add_argument("--promote", action="store_true",
                   help="make this model the champion even if it does not beat the current one")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train)

    p = add_command(commands, "baselines", "fit the baselines on the champion's split when its run has none",
                    "Fit the linear regression and the random forest on the champion's own split of the data it "
                    "was trained on, and log their holdout metrics to its MLflow run. For a champion trained "
                    "without them (the first champion of `autovalue demo`); nothing to do otherwise.")
    p.add_argument("--source", default=settings.market_source,
                   help="data/raw/<source>.parquet the champion was trained on")
    p.set_defaults(func=cmd_baselines)

    p = add_command(commands, "parity", "value the champion's holdout and the latest stream three ways and compare",
                    "Value a sample of the champion's holdout and of the latest stored valuations through the "
                    "training path, the running service and the stored rows; name every feature or price that "
                    "differs. Exit status 1 below 99.9% agreement.")
    p.add_argument("--holdout", type=int, default=1000, help="listings sampled from the champion's holdout")
    p.add_argument("--stream", type=int, default=1000, help="latest listings the scorer stored")
    p.set_defaults(func=cmd_parity)

    p = add_command(commands, "report", "print the champion's model card and write its plots")
    p.add_argument("--out", help="folder for model_card.md and the plots (default: reports/<version>/)")
    p.set_defaults(func=cmd_report)
