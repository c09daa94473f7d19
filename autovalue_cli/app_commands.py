"""Commands of the app part: `autovalue dashboard` runs the Streamlit dashboard."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from autovalue.settings import get_settings
from autovalue_cli.common import add_command

APP = Path(__file__).resolve().parents[1] / "app" / "main.py"


def dashboard_argv(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.address", host,
            "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
            # The pages say plainly what is down; a stray error shows its type, never a traceback.
            "--client.showErrorDetails", "type"]


def cmd_dashboard(args: argparse.Namespace) -> int:
    settings = get_settings()
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false", AUTOVALUE_HOME=str(settings.home.resolve()))
    print(f"dashboard on http://{args.host}:{args.port}", flush=True)
    # Become streamlit: signals to this process reach it directly (demo stops it with SIGTERM).
    os.execve(sys.executable, dashboard_argv(args.host, args.port), env)
    return 0  # not reached


def register(commands: argparse._SubParsersAction) -> None:
    settings = get_settings()
    p = add_command(commands, "dashboard", "run the Streamlit dashboard (streamlit run app/main.py)",
                    "Run the Streamlit dashboard: live valuations, live accuracy, value a car, the model, "
                    "drift and freshness. Headless, no telemetry.")
    p.add_argument("--host", default=settings.dashboard_host, help="address to listen on (AUTOVALUE_DASHBOARD_HOST)")
    p.add_argument("--port", type=int, default=settings.dashboard_port, help="port (AUTOVALUE_DASHBOARD_PORT)")
    p.set_defaults(func=cmd_dashboard)
