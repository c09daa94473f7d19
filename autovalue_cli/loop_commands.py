"""Commands of the closed loop: `autovalue history` and `autovalue retrain`."""

from __future__ import annotations

import argparse

from autovalue.settings import get_settings
from autovalue_cli.common import CommandError, add_command, positive_number


def cmd_history(args: argparse.Namespace) -> int:
    from training.landed_history import HistoryUnavailable, build_landed_history

    try:
        history, path = build_landed_history(get_settings())
    except HistoryUnavailable as error:
        raise CommandError(str(error)) from None
    print(history.summary(path))
    return 0


def cmd_retrain(args: argparse.Namespace) -> int:
    settings = get_settings()
    from training.tracking import quiet_telemetry

    quiet_telemetry(settings)
    from training.dataset import FeatureServiceMissing
    from training.landed_history import HistoryUnavailable
    from training.retrain import TooFewOutcomes, retrain

    if args.every_days:
        return _on_schedule(settings, args.every_days)
    try:
        result = retrain(settings, progress=args.progress)
    except (HistoryUnavailable, TooFewOutcomes, FeatureServiceMissing) as error:
        raise CommandError(str(error)) from None
    print(result.line())
    return 0


def _on_schedule(settings, every_days: float) -> int:
    import signal
    import threading

    from training.retrain_schedule import retrain_on_schedule

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    retrain_on_schedule(settings, every_days, stop, say=lambda line: print(line, flush=True))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    settings = get_settings()
    p = add_command(commands, "history", "write the stream's landed history as the market source `landed`",
                    "Append the listings the system valued (each one's first valuation) with what became of "
                    f"them (the outcomes table) to the market's history (data/raw/{settings.market_source}.parquet), "
                    "and write it as data/raw/landed.parquet with its metadata. Only listings whose outcome has "
                    "landed, or older than AUTOVALUE_HISTORY_WITHDRAWAL_HORIZON_DAYS market days without one "
                    "(unsold), are written. Reads the database, not the topic; the same tables give the same file.")
    p.set_defaults(func=cmd_history)

    p = add_command(commands, "retrain", "train a challenger on the landed history; promote it if it values better",
                    "Write the landed history (`autovalue history`), build its features and point-in-time "
                    "dataset, train a challenger (time split), and value the newest sales neither model trained "
                    "on with the challenger and the champion; the challenger becomes champion only with the lower "
                    "MAPE (running services switch to it). The decision is recorded on the challenger's MLflow "
                    "run. Fewer landed sales than AUTOVALUE_RETRAIN_MIN_OUTCOMES "
                    f"({settings.retrain_min_outcomes}): exit status 2.")
    p.add_argument("--progress", action="store_true", help="progress bars while building and training")
    p.add_argument("--every-days", type=positive_number, nargs="?", const=settings.retrain_every_days,
                   help="keep running: retrain every N market days (AUTOVALUE_MARKET_DAYS_PER_MINUTE a minute; "
                        f"without N, AUTOVALUE_RETRAIN_EVERY_DAYS: {settings.retrain_every_days:g}); too few "
                        "landed sales is said and tried again next time")
    p.set_defaults(func=cmd_retrain)
