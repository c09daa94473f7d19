"""`autovalue demo`'s supervisor with real child processes: a death is reported and the child
started again with backoff; one that keeps dying ends the supervision; stop ends them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploy.supervisor import Supervisor, SupervisorFailed

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


# Run in a process of its own: becoming a subreaper would change the test session itself.
ADOPTION = r"""
import os, signal, sys, time
from pathlib import Path
from deploy.supervisor import Supervisor

logs = Path(sys.argv[1])
# Like `bentoml serve`: a child whose own child lives in a session of its own and keeps going.
PARENT = ("import subprocess, sys, time; "
          "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], start_new_session=True); "
          "print('worker', p.pid, flush=True); time.sleep(600)")

def worker_pids():
    return [int(line.split()[1]) for line in (logs / "service.log").read_text().splitlines() if line.startswith("worker")]

def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False

said = []
supervisor = Supervisor(logs, say=said.append, backoff_s=0.05, adopt_orphans=True)
first = supervisor.start("service", [sys.executable, "-c", PARENT])
deadline = time.monotonic() + 60
while not worker_pids():
    assert time.monotonic() < deadline
    time.sleep(0.05)
os.kill(first.pid, signal.SIGKILL)
while "service: started again" not in said or len(worker_pids()) < 2:
    assert time.monotonic() < deadline, said
    supervisor.check()
    time.sleep(0.05)
orphaned, current = worker_pids()
assert not alive(orphaned), "the killed child's worker is still running"
assert alive(current)
supervisor.stop_all()
assert not alive(current), "stop_all left a worker running"
print("ok")
"""


def test_what_a_killed_child_leaves_running_is_ended(tmp_path):
    """Killed with SIGKILL, a child cannot stop its own children (BentoML's workers, which would keep
    the port and make every restart fail): the supervisor adopts and ends them."""
    result = subprocess.run([sys.executable, "-c", ADOPTION, str(tmp_path)], capture_output=True, text=True,
                            timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stdout + result.stderr


SPARED = """
import subprocess, sys, time
from pathlib import Path
from deploy.supervisor import Supervisor

supervisor = Supervisor(Path(sys.argv[1]), say=lambda line: None, adopt_orphans=True)
# Like the demo's broker: started by this process itself, not by the supervisor.
broker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
supervisor.spare(broker)
supervisor.start("baselines", [sys.executable, "-c", "pass"], restart=False)
deadline = time.monotonic() + 60
while not supervisor.children["baselines"].done:
    assert time.monotonic() < deadline
    supervisor.check()
    time.sleep(0.05)
alive = broker.poll() is None
supervisor.stop_all()
broker.kill()
print("ok" if alive else "the spared process was ended")
"""


def test_a_finished_child_does_not_end_a_spared_process(tmp_path):
    """The demo's broker is the demo's own child: a child finishing (the baselines) must not end it
    with the orphans it sweeps (that emptied the in-memory broker mid-stream)."""
    result = subprocess.run([sys.executable, "-c", SPARED, str(tmp_path)], capture_output=True, text=True,
                            timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stdout + result.stderr
