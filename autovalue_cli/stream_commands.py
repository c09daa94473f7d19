"""Commands of the streaming part: score, simulate, rescore."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone

from autovalue.settings import get_settings


def _live_market(settings):
    from feature_repo.config import feature_store
    from feature_repo.live import LiveMarket
    from market.io import read_source

    return LiveMarket(settings, feature_store(settings), read_source(settings.raw_dir, settings.market_source))


def cmd_score(args: argparse.Namespace) -> int:
    from consumers.scorer import Scorer

    settings = get_settings()
    market = None if args.no_push else _live_market(settings)
    scorer = Scorer(settings, market_updates=market)
    scorer.install_signal_handlers()
    scorer.run(idle_exit_s=args.idle_exit)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from consumers.simulator import simulate

    counts = simulate(get_settings(), args.rate, args.duration, args.bad_share, args.seed)
    print(f"produced {sum(counts.values()):,} listings: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


def cmd_rescore(args: argparse.Namespace) -> int:
    from consumers.rescore import Rescorer

    since = datetime.fromisoformat(args.since).replace(tzinfo=timezone.utc) if args.since else None
    rescorer = Rescorer(get_settings())
    rescorer.install_signal_handlers()
    done = rescorer.rescore(since=since, from_offset=args.from_offset)
    print(f"rescored {done:,} messages: {dict(rescorer.counts)}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("score", help="value listings from Kafka through the service, until stopped")
    p.add_argument("--idle-exit", type=float, help="stop after this many seconds without a message")
    p.add_argument("--no-push", action="store_true", help="do not push market statistics to Feast")
    p.set_defaults(func=cmd_score)

    p = commands.add_parser("simulate", help="produce realistic new listings to the listings topic")
    p.add_argument("--rate", type=float, default=20.0, help="listings per second")
    p.add_argument("--duration", type=float, default=60.0, help="seconds")
    p.add_argument("--bad-share", type=float, default=0.0, help="share of malformed messages (0-1)")
    p.add_argument("--seed", type=int)
    p.set_defaults(func=cmd_simulate)

    p = commands.add_parser("rescore", help="re-value a stretch of the listings topic with the current champion")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--since", help="ISO date or time (UTC) of the first listing to re-value")
    group.add_argument("--from-offset", type=int, help="first offset, on every partition")
    p.set_defaults(func=cmd_rescore)
