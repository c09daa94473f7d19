"""`autovalue <command>`: one entry point over every part. Each part's commands live in their
own module here and import that part lazily, so `autovalue --help` stays fast."""

from __future__ import annotations

import argparse
import sys

from autovalue.logs import setup_logging
from autovalue.settings import get_settings
from autovalue_cli import (app_commands, data_commands, demo, feature_commands, service_commands,
                           stream_commands, training_commands)

COMMAND_MODULES = [data_commands, feature_commands, training_commands, service_commands, stream_commands,
                   app_commands, demo]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autovalue", description="Used-car valuation: data, features, models, serving, streaming.")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    setup_logging(get_settings().log_level)
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
