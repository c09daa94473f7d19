"""`autovalue champion`: which model is served, and moving the champion by hand (a rollback)."""

from __future__ import annotations

import argparse
import time

from autovalue.settings import get_settings
from autovalue_cli.common import CommandError, add_command


def cmd_champion(args: argparse.Namespace) -> int:
    from autovalue.champion_pointer import read_champion_record

    settings = get_settings()
    if args.action == "set":
        from training.champion import NoSuchModel, make_champion

        if not args.version:
            raise CommandError("say which version: autovalue champion set v3")
        try:
            previous, new = make_champion(settings, args.version)
        except NoSuchModel as error:
            raise CommandError(str(error)) from None
        switch_at = time.strftime("%H:%M:%S", time.localtime(time.time() + settings.service_champion_settle_s))
        print(f"champion: {previous or 'none'} -> {new}; running services switch to it at {switch_at} "
              f"(AUTOVALUE_SERVICE_CHAMPION_SETTLE_S={settings.service_champion_settle_s:g})")
        return 0
    record = read_champion_record(settings.models_dir)
    if record is None:
        raise CommandError(f"no champion yet in {settings.models_dir}: run `autovalue train`")
    since = record.get("since")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if since else "unknown"
    exported = sorted((p.name for p in settings.models_dir.glob("v*") if p.is_dir() and p.name[1:].isdigit()),
                      key=lambda v: int(v[1:]))
    print(f"champion {record['version']} (since {when}); exported: {', '.join(exported) or 'none'}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    p = add_command(commands, "champion", "show the champion, or make another exported version champion",
                    "Without arguments: the champion version and the exported ones. `set VERSION`: point the "
                    "champion (MLflow alias and models/champion.json) at a registered, exported version, e.g. "
                    "to roll back; running services load it and switch without a restart.")
    p.add_argument("action", nargs="?", choices=["show", "set"], default="show",
                   help="show: the champion and the exported versions; set: make VERSION the champion")
    p.add_argument("version", nargs="?", help="with set: v3 or 3")
    p.set_defaults(func=cmd_champion)
