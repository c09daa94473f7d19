"""Child processes running the project's commands: the `autovalue` command line, the environment
that hands a Settings down to a child, and a server child (`autovalue serve`) in its own process
group, ready when its /readyz answers and stopped with every worker it spawned.

The demo, the benchmarks and the tests all start such children; this is their one copy.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from autovalue.service_paths import READY_PATH
from autovalue.settings import Settings



def stop_on_signal() -> list:
    """A list that SIGINT or SIGTERM appends to: a command polls it to stop cleanly."""
    stop: list = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.append(True))
    return stop


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM (a foreground part with nothing else to do, e.g. the broker)."""
    stop = stop_on_signal()
    while not stop:
        signal.pause()


def autovalue_command(*args: str) -> list[str]:
    """`autovalue ARGS` with this interpreter (the console script may not be on PATH)."""
    return [sys.executable, "-m", "autovalue_cli.main", *args]


def serve_command(port: int) -> list[str]:
    return autovalue_command("serve", "--port", str(port))


def settings_environment(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that makes a child process's Settings() equal `settings` (the parent's own
    AUTOVALUE_* variables left out, so none of them overrides a field), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOVALUE_")}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is not None:
            env[f"AUTOVALUE_{name.upper()}"] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    env.update(settings.library_environment(), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def answers(url: str, timeout_s: float = 1.0) -> bool:
    """Whether GET `url` answers 200 now."""
    try:
        return httpx.get(url, timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


class ServerProcess:
    """A server command (`serve_command`) in its own process group; start() returns once its
    /readyz answers, stop() sends SIGTERM to the whole group (BentoML workers outlive a killed
    parent otherwise) and then to the workers, which BentoML puts in groups of their own."""

    def __init__(self, argv: list[str], env: dict[str, str], port: int, log_path: Path, cwd: Path | None = None):
        self.argv, self.env, self.port, self.log_path, self.cwd = argv, env, port, log_path, cwd
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.ready_after: float | None = None

    def start(self, timeout: float = 60.0) -> "ServerProcess":
        self.log = open(self.log_path, "w")
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = self.started_at + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited {self.process.returncode}:\n{self.log_text()[-3000:]}")
            if answers(self.url + READY_PATH):
                self.ready_after = time.monotonic() - self.started_at
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready after {timeout} s:\n{self.log_text()[-3000:]}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None:
            return
        group = self.process.pid  # the session leader's pid is the group id
        workers = children_of(group)  # remembered now: they are re-parented once it exits
        signal_group(group, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (_group_alive(group) or any(alive(w) for w in workers)):
            self.process.poll()
            time.sleep(0.1)
        signal_group(group, signal.SIGKILL)  # whatever of it is left
        for worker in workers:
            if alive(worker):
                os.kill(worker, signal.SIGKILL)
        self.process.wait(timeout=5)
        self.log.close()
        self.process = None

    def worker_pids(self) -> list[int]:
        return children_of(self.process.pid) if self.process else []


def stop_process_group(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM to a child started with start_new_session=True (its whole group), SIGKILL if it
    lingers. The one way the project stops such a child."""
    signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        signal_group(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def signal_group(group: int, signum: int) -> None:
    """`signum` to every process of `group`; none left is no error (it ended on its own)."""
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        pass


def children_of(parent: int) -> list[int]:
    """The pids whose parent is `parent` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == parent:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
        return True
    except ProcessLookupError:
        return False
