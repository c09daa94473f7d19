"""Commands of the app part: `autovalue dashboard` runs the Streamlit dashboard."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from autovalue.settings import get_settings

APP = Path(__file__).resolve().parents[1] / "app" / "main.py"


def dashboard_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            # The pages say plainly what is down; a stray error shows its type, never a traceback.
            "--client.showErrorDetails", "type"]


def cmd_dashboard(args: argparse.Namespace) -> int:
    settings = get_settings()
    port = args.port or settings.dashboard_port
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false", AUTOVALUE_HOME=str(settings.home.resolve()))
    print(f"dashboard on http://127.0.0.1:{port}", flush=True)
    # Become streamlit: signals to this process reach it directly (demo stops it with SIGTERM).
    os.execve(sys.executable, dashboard_argv(port), env)
    return 0  # not reached


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("dashboard", help="run the Streamlit dashboard (streamlit run app/main.py)")
    p.add_argument("--port", type=int, help="default: AUTOVALUE_DASHBOARD_PORT")
    p.set_defaults(func=cmd_dashboard)
