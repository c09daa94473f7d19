"""`autovalue demo`'s supervisor with real child processes: a death is reported and the child
started again with backoff; one that keeps dying ends the supervision; stop ends them all."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from autovalue.supervisor import Supervisor, SupervisorFailed

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
FAILING = [sys.executable, "-c", "import sys; print('cannot start'); sys.exit(3)"]


def wait_until(condition, supervisor: Supervisor, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        supervisor.check()
        time.sleep(0.05)


def test_a_killed_child_is_reported_and_started_again(tmp_path):
    said: list[str] = []
    supervisor = Supervisor(tmp_path, say=said.append, backoff_s=0.1)
    first = supervisor.start("service", SLEEPER)
    try:
        os.kill(first.pid, signal.SIGKILL)
        wait_until(lambda: supervisor.children["service"].process is not first, supervisor)
        assert any(line.startswith("service: exited with status -9; starting it again in 0.1 s") for line in said), said
        assert "service: started again" in said
        assert first.poll() == -9  # reaped: no <defunct> child left behind
        assert supervisor.children["service"].process.poll() is None
    finally:
        supervisor.stop_all()
    assert supervisor.children["service"].process.poll() is not None


def test_a_child_that_keeps_dying_ends_supervision_with_its_log(tmp_path):
    said: list[str] = []
    supervisor = Supervisor(tmp_path, say=said.append, backoff_s=0.01, backoff_max_s=0.04, max_failures=3)
    supervisor.start("scorer", FAILING)
    with pytest.raises(SupervisorFailed, match=r"scorer exited with status 3 4 times in a row"):
        wait_until(lambda: False, supervisor)
    restarts = [line for line in said if "starting it again" in line]
    assert [line.split(" in ")[1].split(" s")[0] for line in restarts] == ["0.01", "0.02", "0.04"]  # backoff
    assert (tmp_path / "scorer.log").read_text().count("cannot start") == 4


def test_a_finite_child_is_not_restarted(tmp_path):
    said: list[str] = []
    supervisor = Supervisor(tmp_path, say=said.append, backoff_s=0.01)
    supervisor.start("simulator", [sys.executable, "-c", "pass"], restart=False)
    supervisor.start("broken", FAILING, restart=False)
    wait_until(lambda: all(c.done for c in supervisor.children.values()), supervisor)
    assert "simulator: finished" in said
    assert any(line.startswith("broken: exited with status 3; see ") for line in said), said


def test_stop_all_ends_every_child_group(tmp_path):
    supervisor = Supervisor(tmp_path, say=lambda _: None)
    processes = [supervisor.start(name, SLEEPER) for name in ("a", "b")]
    supervisor.stop_all(timeout_s=30)
    assert [p.returncode for p in processes] == [-signal.SIGTERM, -signal.SIGTERM]
