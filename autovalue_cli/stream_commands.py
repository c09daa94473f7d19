"""Commands of the streaming part: score, market-feed, simulate, replay, outcomes, rescore."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import get_args

from autovalue.settings import Settings, get_settings
from autovalue_cli.common import CommandError, add_command, one_line, positive_int, positive_number, utc_datetime
from deploy.processes import stop_on_signal

log = logging.getLogger(__name__)


# Exit status of a scorer that stalled and could not recover: its supervisor starts it again.
STALLED_EXIT = 3


def cmd_score(args: argparse.Namespace) -> int:
    from consumers.liveness import Stalled
    from consumers.scorer import Scorer

    try:
        scorer = Scorer(get_settings())
        scorer.install_signal_handlers()
        scorer.run(idle_exit_s=args.idle_exit)
    except Stalled as stalled:
        log.error("%s", stalled)
        return STALLED_EXIT
    return 0


def cmd_market_feed(args: argparse.Namespace) -> int:
    from autovalue_cli.feature_commands import require_source

    settings = get_settings()
    require_source(settings, settings.market_source)
    stop = stop_on_signal()  # before the slow imports: a stop during start-up is a clean exit too
    from consumers.market_feed import run_market_feed

    run_market_feed(settings, lambda: bool(stop))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from consumers.simulator import simulate
    from market.scenarios import scenario_from

    settings = get_settings().model_copy(update={
        "simulate_scenario": args.scenario, "simulate_shock_segment": args.segment,
        "simulate_scenario_day": args.start_day})
    try:
        scenario_from(args.scenario, args.start_day, args.segment)
    except ValueError as error:
        raise CommandError(str(error))
    print(simulate(settings, args.rate, args.duration, args.bad_share, args.seed).summary())
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from autovalue.market_attributes import market_currency
    from consumers.replay import ReplayRefused, open_source, plan, replay

    settings = get_settings()
    try:
        source = open_source(settings.raw_dir, args.file_or_source)
    except ReplayRefused as error:
        raise CommandError(str(error)) from None
    currency, expected = source.meta.get("currency"), market_currency(settings)
    if currency and currency.upper() != expected.upper():
        # The scorer judges asking prices in its market's currency (AUTOVALUE_MARKET_SOURCE's).
        print(f"autovalue replay: warning: {source.name} is priced in {currency}, the scorer's market "
              f"({settings.market_source}) in {expected}: run the scorer with AUTOVALUE_MARKET_SOURCE={source.name}, "
              "or it refuses these asking prices", file=sys.stderr)
    stop = stop_on_signal()
    chosen = plan(source.frame, since=args.since, limit=args.limit)
    done = replay(settings, source.name, chosen.listings, args.speedup, args.duration, lambda: bool(stop),
                  progress=not args.quiet)
    done.skipped = chosen.skipped
    print(done.summary())
    return 0


def cmd_outcomes(args: argparse.Namespace) -> int:
    from kafka.errors import KafkaError
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from consumers.outcomes import OutcomeConsumer

    settings = get_settings()
    # What waiting cannot cure (no broker at start, a refused write) ends the process in one line.
    try:
        consumer = OutcomeConsumer(settings)
        consumer.install_signal_handlers()
        consumer.run(idle_exit_s=args.idle_exit)
    except KafkaError as error:
        raise SystemExit(f"autovalue outcomes: cannot make progress: Kafka at {settings.kafka_bootstrap}: "
                         f"{one_line(error)}")
    except SQLAlchemyError as error:
        database = make_url(settings.database).render_as_string(hide_password=True)
        raise SystemExit(f"autovalue outcomes: cannot make progress: database {database}: {one_line(error)}")
    return 0


def cmd_rescore(args: argparse.Namespace) -> int:
    from consumers.rescore import Rescorer

    rescorer = Rescorer(get_settings())
    rescorer.install_signal_handlers()
    done = rescorer.rescore(since=args.since, from_offset=args.from_offset)
    print(f"rescored {done:,} messages: {dict(rescorer.counts)}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    p = add_command(commands, "score", "value listings from Kafka through the service, until stopped",
                    "Consume the listings topic in a consumer group, validate each listing (bad ones to the "
                    "dead-letter topic and table), value the rest through the service, store the valuations "
                    "and commit offsets last. The market statistics are `autovalue market-feed`'s, a process of its own.")
    p.add_argument("--idle-exit", type=float, help="stop after this many seconds without a message")
    p.set_defaults(func=cmd_score)

    p = add_command(commands, "market-feed", "push live market statistics from the listings topic to Feast",
                    "Read every partition of the listings topic outside the consumer group and push fresh "
                    "market statistics to Feast every AUTOVALUE_MARKET_PUSH_INTERVAL_S seconds. One feed serves "
                    "every scorer of the market: start it beside them.")
    p.set_defaults(func=cmd_market_feed)

    p = add_command(commands, "simulate", "produce realistic new listings to the listings topic",
                    "Produce simulated listings (some malformed, with --bad-share) and, later, each valid "
                    "listing's outcome (sold or withdrawn) on the outcomes topic. The market moves on from "
                    "the history's last day at AUTOVALUE_MARKET_DAYS_PER_MINUTE simulated days a minute, "
                    "optionally under a scenario; the run's ground truth goes to data/simulations/.")
    p.add_argument("--rate", type=float, default=20.0, help="listings per second")
    p.add_argument("--duration", type=float, default=60.0, help="seconds")
    p.add_argument("--bad-share", type=float, default=0.0, help="share of malformed messages (0-1)")
    p.add_argument("--seed", type=int, help="random seed (default: a new one each run)")
    settings = get_settings()
    p.add_argument("--scenario", choices=get_args(Settings.model_fields["simulate_scenario"].annotation),
                   default=settings.simulate_scenario,
                   help="none: the market moving on alone; shock: --segment re-prices -15%% over 14 simulated "
                        "days from --start-day; launch: a new car model is listed from --start-day")
    p.add_argument("--segment", default=settings.simulate_shock_segment,
                   help="the segment (body type) the shock re-prices")
    p.add_argument("--start-day", type=float, default=settings.simulate_scenario_day,
                   help="simulated days after the stream starts (AUTOVALUE_MARKET_DAYS_PER_MINUTE a minute)")
    p.set_defaults(func=cmd_simulate)

    p = add_command(commands, "replay", "play a dated market's listings onto the listings topic on a compressed clock",
                    "Produce an imported market's listings (data/raw/<source>.parquet, or such a file) onto the "
                    "listings topic in listing-date order, SPEEDUP simulated seconds per real second, with their "
                    "own dates; each sale in the file goes to the outcomes topic when its sold_at comes due.")
    p.add_argument("file_or_source", metavar="FILE_OR_SOURCE",
                   help="a source name (data/raw/<source>.parquet) or the path of such a parquet file")
    p.add_argument("--speedup", type=positive_number, default=86_400.0,
                   help="simulated seconds per real second (86400: a day per second)")
    p.add_argument("--from", dest="since", type=utc_datetime,
                   help="ISO date or time of the first listing to replay (UTC unless it has an offset)")
    p.add_argument("--limit", type=positive_int, help="replay at most this many listings")
    p.add_argument("--duration", type=positive_number, help="stop after this many real seconds")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_replay)

    p = add_command(commands, "outcomes", "store what became of each listing (sold / withdrawn) with its valuation",
                    "Consume the outcomes topic in its own consumer group into the outcomes table, joined to "
                    "the first valuation each listing got.")
    p.add_argument("--idle-exit", type=float, help="stop after this many seconds without a message")
    p.set_defaults(func=cmd_outcomes)

    p = add_command(commands, "rescore", "re-value a stretch of the listings topic with the current champion")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--since", type=utc_datetime,
                       help="ISO date or time of the first listing to re-value (UTC unless it has an offset)")
    group.add_argument("--from-offset", type=int, help="first offset, on every partition")
    p.set_defaults(func=cmd_rescore)
