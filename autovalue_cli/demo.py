"""`autovalue demo`: the whole pipeline on the embedded default, until Ctrl-C."""

from __future__ import annotations

import argparse

from autovalue.settings import get_settings
from autovalue_cli.common import today, wait_for_signal


def cmd_demo(args: argparse.Namespace) -> int:
    from broker.embedded import EmbeddedBroker
    from market.generate import generate_market
    from market.io import table_path

    settings = get_settings()
    market = table_path(settings.raw_dir, settings.market_source)
    if not market.exists():
        generate_market(settings.raw_dir, settings.market_listings, settings.market_seed, today(),
                        settings.market_days)
    broker = EmbeddedBroker(settings).start()
    print(f"broker: {settings.kafka_bootstrap}{' (reused)' if broker.reused else ''}")
    print(f"market: {market}")
    if args.no_wait:
        broker.stop()
        return 0
    from autovalue_cli.service_commands import start_service, stop_service

    service = start_service(settings)  # the valuation service, once a champion exists
    print("running; Ctrl-C stops everything")
    wait_for_signal()
    stop_service(service)
    broker.stop()
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("demo", help="the whole pipeline on the embedded default, until Ctrl-C")
    p.add_argument("--no-wait", action="store_true", help="set everything up, then stop")
    p.set_defaults(func=cmd_demo)
