"""`autovalue <command>`: one entry point over every part. Each part's commands live in their
own module here and import that part lazily, so `autovalue --help` stays fast."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, version

from pydantic import ValidationError
from pydantic_settings import SettingsError

from autovalue.logs import setup_logging
from autovalue.settings import get_settings
from autovalue_cli import (app_commands, champion_commands, data_commands, demo, feature_commands, loop_commands,
                           service_commands, stream_commands, training_commands)
from autovalue_cli.common import CommandError, OneLineParser, settings_problem

COMMAND_MODULES = [data_commands, feature_commands, training_commands, loop_commands, champion_commands,
                   service_commands, stream_commands, app_commands, demo]


def _version() -> str:
    try:
        return version("autovalue")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="autovalue", description="Used-car valuation: data, features, models, serving, streaming. "
        "Settings come from AUTOVALUE_* environment variables (autovalue/settings.py).")
    parser.add_argument("--version", action="version", version=f"autovalue {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Settings first, even for --help: the parser shows their values as defaults.
    try:
        settings = get_settings()
    except (ValidationError, SettingsError) as error:
        print(f"autovalue: error: {settings_problem(error)}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CommandError as error:
        print(f"autovalue {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
