"""The compose file's MLflow server for real: `mlflow server` from this venv with the arguments
docker-compose.yml gives it, on the local PostgreSQL, addressed as the other containers address it
(`Host: mlflow:5000`), and the compose healthcheck run against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest

from deploy.processes import stop_process_group
from tests.conftest import free_port
from tests.test_compose import SECRETS, _env_example, compose_config

pytestmark = [pytest.mark.production, pytest.mark.slow]
ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
MLFLOW = Path(sys.executable).with_name("mlflow")


@pytest.fixture
def mlflow_database():
    name = f"mlflow_compose_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(ADMIN, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is required for this test: {error}")
    yield name
    with psycopg.connect(ADMIN, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _replace(argv: list[str], option: str, value: str) -> list[str]:
    at = argv.index(option)
    return [*argv[:at + 1], value, *argv[at + 2:]]


def test_mlflow_answers_the_stack_by_its_compose_name(tmp_path, mlflow_database):
    config = compose_config(tmp_path / "compose", {**_env_example(), **SECRETS})
    assert config.returncode == 0, config.stderr
    mlflow = json.loads(config.stdout)["services"]["mlflow"]
    assert mlflow["entrypoint"] == ["mlflow"]
    argv = mlflow["command"]
    store = argv[argv.index("--backend-store-uri") + 1]
    assert store == "postgresql+psycopg://autovalue@postgres:5432/mlflow"  # no password: PGPASSWORD
    # Only what cannot be the same here changes: the database server, the port, the folder.
    port = free_port()
    argv = _replace(argv, "--backend-store-uri", f"postgresql+psycopg://postgres@127.0.0.1:5432/{mlflow_database}")
    argv = _replace(argv, "--port", str(port))
    argv = _replace(argv, "--host", "127.0.0.1")
    argv = _replace(argv, "--artifacts-destination", str(tmp_path / "mlartifacts"))
    env = {**os.environ, **mlflow["environment"]}
    log = open(tmp_path / "mlflow.log", "wb")
    server = subprocess.Popen([str(MLFLOW), *argv], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    api = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, (tmp_path / "mlflow.log").read_text(errors="replace")[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "mlflow.log").read_text(errors="replace")[-3000:]
            time.sleep(0.5)

        answered = httpx.get(api, headers={"Host": "mlflow:5000"}, timeout=30)
        assert answered.status_code == 200, answered.text
        assert answered.json()["experiment"]["name"] == "Default"
        assert httpx.get(api, headers={"Host": f"127.0.0.1:{port}"}, timeout=30).status_code == 200  # the published port
        refused = httpx.get(api, headers={"Host": "attacker.example:5000"}, timeout=30)
        assert refused.status_code == 403  # the Host check is still on: only the names compose gives pass

        # The compose healthcheck as written, pointed at this port.
        test = mlflow["healthcheck"]["test"]
        assert test[0] == "CMD" and test[1] == "python"
        check = [sys.executable, *[part.replace("127.0.0.1:5000", f"127.0.0.1:{port}") for part in test[2:]]]
        assert subprocess.run(check, timeout=60).returncode == 0
    finally:
        stop_process_group(server, timeout=30)
        log.close()
