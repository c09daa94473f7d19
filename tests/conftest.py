"""Shared fixtures: real parts only (a real tansu broker, real files, real databases)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from autovalue.settings import QUIET_LIBRARIES, Settings

SHARED_REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"

for _name, _value in QUIET_LIBRARIES.items():
    os.environ.setdefault(_name, _value)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory) -> str:
    """A real tansu broker on a free port for the whole test session."""
    from broker.embedded import EmbeddedBroker

    bootstrap = f"127.0.0.1:{free_port()}"
    settings = Settings(home=tmp_path_factory.mktemp("broker"), kafka_bootstrap=bootstrap)
    broker = EmbeddedBroker(settings, log_path=settings.home / "tansu.log").start()
    assert not broker.reused
    yield bootstrap
    broker.stop()


@pytest.fixture
def settings(tmp_path, kafka_bootstrap) -> Settings:
    return Settings(home=tmp_path, kafka_bootstrap=kafka_bootstrap)


@pytest.fixture
def real_data() -> Path:
    if not SHARED_REAL.is_dir():
        pytest.skip(f"real CSVs not available: {SHARED_REAL} is absent (only on developer and CI machines)")
    return SHARED_REAL
