"""`autovalue <command>`: one entry point over every part. Parts are imported lazily per command."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from datetime import date, datetime, timezone

from autovalue.logs import setup_logging
from autovalue.settings import get_settings

log = logging.getLogger("autovalue")


def _today() -> date:
    return datetime.now(timezone.utc).date()


def cmd_broker(args: argparse.Namespace) -> int:
    from broker.embedded import EmbeddedBroker

    settings = get_settings()
    broker = EmbeddedBroker(settings).start()
    if broker.reused:
        print(f"broker already running at {settings.kafka_bootstrap}; topics ensured")
        return 0
    print(f"tansu broker on {settings.kafka_bootstrap} (memory only); Ctrl-C stops it")
    _wait_for_signal()
    broker.stop()
    return 0


def _wait_for_signal() -> None:
    stop = {"now": False}

    def handler(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    while not stop["now"]:
        signal.pause()


def cmd_generate(args: argparse.Namespace) -> int:
    from market.generate import generate_market

    settings = get_settings()
    meta = generate_market(settings.raw_dir, args.listings, args.seed, args.end, args.days,
                           progress=not args.quiet)
    print(f"wrote {meta['listings']:,} listings ({meta['sold']:,} sold) to {meta['path']}; "
          f"noise floor MAPE {meta['noise_floor_mape']:.2%}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from market.importer import ImportFailed, import_csv

    try:
        report = import_csv(Path(args.file), args.mapping, get_settings().raw_dir)
    except ImportFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from broker.embedded import EmbeddedBroker
    from market.generate import generate_market
    from market.io import table_path

    settings = get_settings()
    if not table_path(settings.raw_dir, "market").exists():
        generate_market(settings.raw_dir, settings.market_listings, settings.market_seed, _today(),
                        settings.market_days)
    broker = EmbeddedBroker(settings).start()
    print(f"broker: {settings.kafka_bootstrap}{' (reused)' if broker.reused else ''}")
    print(f"market: {table_path(settings.raw_dir, 'market')}")
    if args.no_wait:
        broker.stop()
        return 0
    print("running; Ctrl-C stops everything")
    _wait_for_signal()
    broker.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="autovalue", description="Used-car valuation: data, features, models, serving, streaming.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("broker", help="run the embedded Kafka broker (tansu) and create the topics")
    p.set_defaults(func=cmd_broker)

    p = commands.add_parser("generate", help="write the simulated market to data/raw/market.parquet")
    p.add_argument("--listings", type=int, default=settings.market_listings)
    p.add_argument("--seed", type=int, default=settings.market_seed)
    p.add_argument("--end", type=date.fromisoformat, default=_today(),
                   help="last day of the market (default today; same --seed and --end give the same data)")
    p.add_argument("--days", type=int, default=settings.market_days)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_generate)

    p = commands.add_parser("import", help="map a real CSV onto the canonical listing schema")
    p.add_argument("file")
    p.add_argument("--mapping", required=True, help="a built-in mapping name or a mapping.yaml path")
    p.set_defaults(func=cmd_import)

    p = commands.add_parser("demo", help="the whole pipeline on the embedded default, until Ctrl-C")
    p.add_argument("--no-wait", action="store_true", help="set everything up, then stop")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    setup_logging(get_settings().log_level)
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
