"""Helpers shared by the command modules."""

from __future__ import annotations

import argparse
import math
import os
import re
from datetime import datetime, timezone


class CommandError(Exception):
    """An expected failure: `autovalue` prints it as one line and exits with status 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage text is one `--help` away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _DefaultsShown(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default unless there is none to show (None, or an on/off switch)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or isinstance(action.default, bool):
            return action.help or ""
        return super()._get_help_string(action)


def add_command(commands: argparse._SubParsersAction, name: str, summary: str,
                description: str | None = None) -> argparse.ArgumentParser:
    """A subcommand with a description and its defaults shown in --help."""
    return commands.add_parser(name, help=summary, description=description or summary[:1].upper() + summary[1:] + ".",
                               formatter_class=_DefaultsShown)


def settings_problem(error: Exception) -> str:
    """A settings ValidationError (or pydantic-settings' parse error) as one line naming each variable."""
    errors = getattr(error, "errors", None)
    if errors is None:  # SettingsError: 'error parsing value for field "x" from source ...' (bad JSON)
        found = re.search(r'field "(\w+)"', str(error))
        if found is None:
            return str(error).splitlines()[0]
        name = f"AUTOVALUE_{found.group(1).upper()}"
        return f"{name}={os.environ.get(name)!r}: not a valid value (a list is written as JSON, e.g. [\"a\", \"b\"])"
    parts = []
    for e in errors(include_url=False):
        name = "AUTOVALUE_" + "_".join(str(part) for part in e["loc"]).upper()
        parts.append(f"{name}={e.get('input')!r}: {e['msg']}")
    return "; ".join(parts)


def utc_datetime(text: str) -> datetime:
    """An ISO date or time; without an offset it is UTC, with one it is kept."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r} (e.g. 2026-11-29 or "
                                         "2026-11-29T08:00+07:00)") from None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return value


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return int(text)


def one_line(error: BaseException) -> str:
    """An exception as one line: its type and the first line of its message (a driver's own
    message rather than SQLAlchemy's wrapper with the statement)."""
    name = type(error).__name__
    lines = str(getattr(error, "orig", None) or error).strip().splitlines()
    first = lines[0].removeprefix(f"{name}: ") if lines else ""  # kafka-python's errors name themselves
    return f"{name}: {first}" if first else name
