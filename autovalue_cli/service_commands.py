"""Commands of the serving part: `autovalue serve` runs the BentoML valuation service."""

from __future__ import annotations

import argparse
import os
import sys

from autovalue.settings import get_settings

SERVICE = "bento.service:ValuationService"


def serve_env(settings) -> dict[str, str]:
    """The service process reads the same settings; BentoML's own switches come from them too."""
    env = dict(os.environ)
    env["BENTOML_HOME"] = str(settings.bentoml_store.resolve())
    env["AUTOVALUE_HOME"] = str(settings.home.resolve())
    env.setdefault("BENTOML_DO_NOT_TRACK", "true")
    env.setdefault("OTEL_SDK_DISABLED", "true")  # else every request's span stays in memory
    return env


def cmd_serve(args: argparse.Namespace) -> int:
    settings = get_settings()
    env = serve_env(settings)
    if args.workers:
        env["AUTOVALUE_SERVICE_WORKERS"] = str(args.workers)
    port = args.port or settings.service_port
    argv = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--port", str(port)]
    print(f"valuation service on port {port} (model store {env['BENTOML_HOME']})", flush=True)
    # Become `bentoml serve`: signals to this process reach BentoML's arbiter directly.
    os.execve(sys.executable, argv, env)
    return 0  # not reached


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("serve", help="run the BentoML valuation service (bentoml serve)")
    p.add_argument("--port", type=int, help="default: AUTOVALUE_SERVICE_PORT")
    p.add_argument("--workers", type=int, help="default: AUTOVALUE_SERVICE_WORKERS")
    p.set_defaults(func=cmd_serve)
