"""Commands of the serving part: `autovalue serve` runs the BentoML valuation service."""

from __future__ import annotations

import argparse
import os
import sys

from autovalue.settings import get_settings
from autovalue_cli.common import CommandError, add_command
from deploy.processes import settings_environment

SERVICE = "bento.service:ValuationService"


def serve_argv(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", host, "--port", str(port)]


def cmd_serve(args: argparse.Namespace) -> int:
    settings = get_settings()
    if settings.mode == "production" and not settings.api_key:
        raise CommandError("AUTOVALUE_MODE=production needs AUTOVALUE_API_KEY: the valuation API would be open")
    env = settings_environment(settings)  # the same settings, and the libraries' own switches
    if args.workers:
        env["AUTOVALUE_SERVICE_WORKERS"] = str(args.workers)
    print(f"valuation service on {args.host}:{args.port} (model store {env['BENTOML_HOME']})", flush=True)
    # Become `bentoml serve`: signals to this process reach BentoML's arbiter directly.
    os.execve(sys.executable, serve_argv(args.host, args.port), env)
    return 0  # not reached


def register(commands: argparse._SubParsersAction) -> None:
    settings = get_settings()
    p = add_command(commands, "serve", "run the BentoML valuation service (bentoml serve)",
                    "Run `bentoml serve bento.service:ValuationService`: the champion model with its market "
                    "features from Feast, behind the API key (AUTOVALUE_API_KEY) when one is set.")
    p.add_argument("--host", default=settings.service_host, help="address to listen on (AUTOVALUE_SERVICE_HOST)")
    p.add_argument("--port", type=int, default=settings.service_port, help="port (AUTOVALUE_SERVICE_PORT)")
    p.add_argument("--workers", type=int, default=settings.service_workers,
                   help="worker processes (AUTOVALUE_SERVICE_WORKERS)")
    p.set_defaults(func=cmd_serve)
