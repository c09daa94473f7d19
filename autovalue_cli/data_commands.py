"""Commands of the market-data part and the embedded broker."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from autovalue.settings import get_settings
from autovalue_cli.common import today, wait_for_signal


def cmd_broker(args: argparse.Namespace) -> int:
    from broker.embedded import EmbeddedBroker

    settings = get_settings()
    broker = EmbeddedBroker(settings).start()
    if broker.reused:
        print(f"broker already running at {settings.kafka_bootstrap}; topics ensured")
        return 0
    print(f"tansu broker on {settings.kafka_bootstrap} (memory only); Ctrl-C stops it")
    wait_for_signal()
    broker.stop()
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from autovalue.kafka_clients import ensure_topics

    settings = get_settings()
    created = ensure_topics(settings)
    print(f"topics on {settings.kafka_bootstrap}: created {created or 'none (all exist)'}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from market.generate import generate_market

    settings = get_settings()
    meta = generate_market(settings.raw_dir, args.listings, args.seed, args.end, args.days,
                           progress=not args.quiet)
    print(f"wrote {meta['listings']:,} listings ({meta['sold']:,} sold) to {meta['path']}; "
          f"noise floor MAPE {meta['noise_floor_mape']:.2%}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from market.importer import ImportFailed, import_csv

    try:
        report = import_csv(Path(args.file), args.mapping, get_settings().raw_dir)
    except ImportFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    settings = get_settings()
    p = commands.add_parser("broker", help="run the embedded Kafka broker (tansu) and create the topics")
    p.set_defaults(func=cmd_broker)

    p = commands.add_parser("topics", help="create the system's topics on any Kafka (Apache Kafka in production)")
    p.set_defaults(func=cmd_topics)

    p = commands.add_parser("generate", help="write the simulated market to data/raw/market.parquet")
    p.add_argument("--listings", type=int, default=settings.market_listings)
    p.add_argument("--seed", type=int, default=settings.market_seed)
    p.add_argument("--end", type=date.fromisoformat, default=today(),
                   help="last day of the market (default today; same --seed and --end give the same data)")
    p.add_argument("--days", type=int, default=settings.market_days)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_generate)

    p = commands.add_parser("import", help="map a real CSV onto the canonical listing schema")
    p.add_argument("file")
    p.add_argument("--mapping", required=True, help="a built-in mapping name or a mapping.yaml path")
    p.set_defaults(func=cmd_import)
