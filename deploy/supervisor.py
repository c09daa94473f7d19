"""A small process supervisor (`autovalue demo`): each child in its own process group with its
own log, a child that dies is reported and, when long-running, started again with backoff.

A child killed outright can leave its own children running in sessions of their own (BentoML's
workers keep the service's port). With `adopt_orphans` (Linux), this process becomes their
subreaper and ends what a dead child left behind, and everything at stop; a process of its own
started outside the supervisor (the demo's broker) is spared when named with `spare`.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deploy.processes import children_of, signal_group, stop_process_group


class SupervisorFailed(RuntimeError):
    """A long-running child kept dying: restarting it more would only hide the fault."""


@dataclass
class Child:
    name: str
    argv: list[str]
    restart: bool  # long-running: started again when it exits
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float | None = None  # when a dead child is due to start again
    delay: float = 0.0  # the next restart's wait
    failures: int = 0  # deaths in a row, each within `stable_s` of its start
    done: bool = field(default=False)


class Supervisor:
    def __init__(self, log_dir: Path, say: Callable[[str], None] = print, backoff_s: float = 2.0,
                 backoff_max_s: float = 60.0, max_failures: int = 5, stable_s: float = 60.0,
                 adopt_orphans: bool = False):
        self.log_dir, self.say = log_dir, say
        self.backoff_s, self.backoff_max_s = backoff_s, backoff_max_s
        self.max_failures, self.stable_s = max_failures, stable_s
        self.children: dict[str, Child] = {}
        self.spared: set[int] = set()  # own processes that are no child's leftovers
        self.adopts = adopt_orphans and _become_subreaper()

    def start(self, name: str, argv: list[str], restart: bool = True) -> subprocess.Popen:
        child = self.children.setdefault(name, Child(name, argv, restart, delay=self.backoff_s))
        self._spawn(child)
        self.say(f"  {name}: logging to {self.log_path(name)}")
        return child.process

    def spare(self, process: subprocess.Popen | None) -> None:
        """A process this one started itself, outside the supervisor: not an orphan, never ended here."""
        if process is not None:
            self.spared.add(process.pid)

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _spawn(self, child: Child) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path(child.name), "ab") as log:
            child.process = subprocess.Popen(child.argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        child.started_at, child.restart_at = time.monotonic(), None

    def check(self) -> None:
        """Reap dead children, report them, restart what is due; SupervisorFailed when one keeps dying."""
        now = time.monotonic()
        for child in self.children.values():
            if child.done:
                continue
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self._spawn(child)
                    self.say(f"{child.name}: started again")
                continue
            status = child.process.poll()
            if status is None:
                continue
            self._end_orphans()
            if not child.restart:
                child.done = True
                self.say(f"{child.name}: finished" if status == 0 else
                         f"{child.name}: exited with status {status}; see {self.log_path(child.name)}")
                continue
            if now - child.started_at >= self.stable_s:  # it had been running fine: start over
                child.failures, child.delay = 0, self.backoff_s
            child.failures += 1
            if child.failures > self.max_failures:
                raise SupervisorFailed(f"{child.name} exited with status {status} {child.failures} times in a row; "
                                       f"see {self.log_path(child.name)}")
            self.say(f"{child.name}: exited with status {status}; starting it again in {child.delay:g} s "
                     f"(see {self.log_path(child.name)})")
            child.restart_at = now + child.delay
            child.delay = min(child.delay * 2, self.backoff_max_s)

    def run(self, stop: Callable[[], bool], until: float | None = None, poll_s: float = 0.5) -> None:
        """Watch the children until `stop()` or the monotonic time `until`."""
        while not stop() and (until is None or time.monotonic() < until):
            self.check()
            time.sleep(poll_s)

    def stop_all(self, timeout_s: float = 15.0) -> None:
        """SIGTERM to every child's group, newest first; SIGKILL to what is still there after the timeout."""
        running = [c.process for c in reversed(list(self.children.values())) if c.process is not None]
        for process in running:
            if process.poll() is None:
                signal_group(process.pid, signal.SIGTERM)  # all at once: they stop side by side
        deadline = time.monotonic() + timeout_s
        for process in running:
            if process.poll() is None:
                stop_process_group(process, timeout=max(deadline - time.monotonic(), 0.1))
        self._end_orphans()

    def _end_orphans(self, timeout_s: float = 10.0) -> None:
        """SIGTERM (then SIGKILL) to the processes re-parented here, and reap them."""
        if not self.adopts:
            return
        known = {c.process.pid for c in self.children.values() if c.process is not None} | self.spared
        orphans = [pid for pid in children_of(os.getpid()) if pid not in known]
        for pid in orphans:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for pid in orphans:
            while not _reaped(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not _reaped(pid):
                _signal(pid, signal.SIGKILL)
                _reaped(pid, block=True)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _reaped(pid: int, block: bool = False) -> bool:
    try:
        return os.waitpid(pid, 0 if block else os.WNOHANG) != (0, 0)
    except ChildProcessError:  # not (or no longer) a child of this process
        return True


def _become_subreaper() -> bool:
    """prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are re-parented to this process."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux
        return False
