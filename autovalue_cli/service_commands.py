"""Commands of the serving part: `autovalue serve` runs the BentoML valuation service."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
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


def has_champion(settings) -> bool:
    """Whether the model store holds the champion the service would load (no bentoml import)."""
    versions = settings.bentoml_store / "models" / settings.bento_model_name
    return (versions / settings.bento_model_version).exists()


def start_service(settings) -> subprocess.Popen | None:
    """`autovalue serve` in the background, in its own process group (BentoML's workers are
    stopped through it): for `autovalue demo`. None when there is no champion to serve yet."""
    if not has_champion(settings):
        print(f"service: no champion {settings.bento_model_name}:{settings.bento_model_version} in "
              f"{settings.bentoml_store} yet; train one, then `autovalue serve`")
        return None
    process = subprocess.Popen([sys.executable, "-m", "autovalue_cli.main", "serve"], start_new_session=True)
    print(f"service: http://127.0.0.1:{settings.service_port} (POST /valuate, /valuate_batch)")
    return process


def stop_service(process: subprocess.Popen | None, timeout: float = 20) -> None:
    if process is None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)  # SIGTERM: BentoML stops its workers too
        process.wait(timeout=timeout)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("serve", help="run the BentoML valuation service (bentoml serve)")
    p.add_argument("--port", type=int, help="default: AUTOVALUE_SERVICE_PORT")
    p.add_argument("--workers", type=int, help="default: AUTOVALUE_SERVICE_WORKERS")
    p.set_defaults(func=cmd_serve)
