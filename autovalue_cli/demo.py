"""`autovalue setup` and `autovalue demo`: their arguments; the order of start is deploy/demo.py."""

from __future__ import annotations

import argparse
import os

from autovalue.settings import Settings, get_settings
from autovalue_cli.common import add_command, positive_number


def cmd_setup(args: argparse.Namespace) -> int:
    from deploy.demo import setup

    setup(get_settings())
    return 0


def _use_source(source: str) -> tuple[Settings, bool]:
    """Every child reads the imported market `source` (its currency and attributes with it);
    returns the settings and whether it is dated."""
    from market.io import read_meta

    from autovalue_cli.feature_commands import require_source

    meta = read_meta(get_settings().raw_dir, require_source(get_settings(), source))
    os.environ["AUTOVALUE_MARKET_SOURCE"] = source
    get_settings.cache_clear()
    return get_settings(), bool(meta.get("has_listing_dates"))


def cmd_demo(args: argparse.Namespace) -> int:
    from deploy.demo import DemoOptions, run_demo

    settings, dated = _use_source(args.source) if args.source else (get_settings(), True)
    return run_demo(settings, DemoOptions(args.source, args.speedup, args.rate, args.duration, args.no_wait,
                                          args.settle), dated)


def register(commands: argparse._SubParsersAction) -> None:
    p = add_command(commands, "setup", "generate the market, build features, train a champion: each only when missing",
                    "What a fresh deployment needs once: the market data (generated), the features in the offline "
                    "and online stores, and a champion model; each step only when its result is missing.")
    p.set_defaults(func=cmd_setup)

    p = add_command(commands, "demo", "the whole pipeline on the embedded default, until Ctrl-C",
                    "Run the embedded broker, the setup, the valuation service, the scorer, the market feed, the outcome consumer, "
                    "the simulator (with a dated --source: its replay) and the dashboard, each logging to data/logs/. A child that dies is reported "
                    "and started again with backoff; one that keeps dying stops the demo with status 1.")
    p.add_argument("--source", help="an imported market (data/raw/<source>.parquet) instead of the simulated one; "
                   "a dated one is replayed instead of the simulator")
    p.add_argument("--speedup", type=positive_number, default=86_400.0,
                   help="with a dated --source: simulated seconds per real second of its replay")
    p.add_argument("--rate", type=float, default=20.0, help="simulated listings per second")
    p.add_argument("--duration", type=float, default=86_400.0, help="seconds of simulated listings")
    p.add_argument("--no-wait", action="store_true", help="start everything, run --settle seconds, stop")
    p.add_argument("--settle", type=float, default=20.0, help="seconds to run with --no-wait")
    p.set_defaults(func=cmd_demo)
