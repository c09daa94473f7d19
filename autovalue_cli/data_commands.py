"""Commands of the market-data part and the embedded broker."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from autovalue.settings import get_settings
from autovalue_cli.common import CommandError, add_command, one_line


def cmd_broker(args: argparse.Namespace) -> int:
    from broker.embedded import EmbeddedBroker

    settings = get_settings()
    broker = EmbeddedBroker(settings).start()
    if broker.reused:
        print(f"broker already running at {settings.kafka_bootstrap}; topics ensured")
        return 0
    print(f"tansu broker on {settings.kafka_bootstrap} (memory only); Ctrl-C stops it")
    from deploy.processes import wait_for_signal

    wait_for_signal()
    broker.stop()
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from kafka.errors import KafkaError

    from consumers.kafka_clients import ensure_topics, wait_for_broker

    settings = get_settings()
    if not wait_for_broker(settings, args.wait):
        raise CommandError(f"no Kafka broker answers at {settings.kafka_bootstrap} "
                           f"(AUTOVALUE_KAFKA_BOOTSTRAP) after {args.wait:g} s")
    try:
        created = ensure_topics(settings)
    except KafkaError as error:
        raise CommandError(f"Kafka at {settings.kafka_bootstrap}: {one_line(error)}") from None
    print(f"topics on {settings.kafka_bootstrap}: created {created or 'none (all exist)'}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from market.generate import generate_market

    settings = get_settings()
    meta = generate_market(settings.raw_dir, args.listings, args.seed, args.end or settings.market_end(), args.days,
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
    p = add_command(commands, "broker", "run the embedded Kafka broker (tansu) and create the topics",
                    "Run the embedded tansu broker on AUTOVALUE_KAFKA_BOOTSTRAP (memory only: a restart loses "
                    "topics and offsets) and create the topics; reuse a broker that already answers there.")
    p.set_defaults(func=cmd_broker)

    p = add_command(commands, "topics", "create the system's topics on any Kafka (Apache Kafka in production)",
                    "Create the listings, valuations, dead-letter and outcomes topics where missing, with "
                    "AUTOVALUE_TOPIC_PARTITIONS partitions and AUTOVALUE_TOPIC_REPLICATION_FACTOR replicas.")
    p.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the broker to answer")
    p.set_defaults(func=cmd_topics)

    p = add_command(commands, "generate", "write the simulated market to data/raw/market.parquet",
                    "Simulate the Indonesian used-car market (listings, sales, noise floor) into "
                    "data/raw/market.parquet and its metadata. The same --seed and --end give the same data.")
    p.add_argument("--listings", type=int, default=settings.market_listings, help="listings to simulate")
    p.add_argument("--seed", type=int, default=settings.market_seed, help="random seed")
    p.add_argument("--end", type=date.fromisoformat, default=None,
                   help="last day of the market (ISO date; default AUTOVALUE_MARKET_LEAD_DAYS before today, "
                        "so that its stream has that many market days to run)")
    p.add_argument("--days", type=int, default=settings.market_days, help="days of market history")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_generate)

    p = add_command(commands, "import", "map a real CSV onto the canonical listing schema",
                    "Map a real CSV onto the listing schema into data/raw/<name>.parquet; prints rows read, "
                    "dropped per reason and duplicates removed. A bad file stops with one line and writes nothing.")
    p.add_argument("file", help="the CSV file")
    p.add_argument("--mapping", required=True, help="a built-in mapping name (market/mappings/) or a mapping.yaml path")
    p.set_defaults(func=cmd_import)
