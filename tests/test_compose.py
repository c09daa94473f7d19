"""The production compose file agrees with the project: commands, settings, ports, images."""

from __future__ import annotations

from pathlib import Path

import yaml

from autovalue.settings import Settings
from autovalue_cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


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


def test_no_published_port_collides():
    published = [p.split(":")[0] for s in SERVICES.values() for p in s.get("ports", [])]
    assert len(published) == len(set(published))


def test_images_are_pinned():
    for name, service in SERVICES.items():
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), name


def test_dockerfile_runs_as_non_root_on_a_pinned_base():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER autovalue" in dockerfile
    assert all(":" in line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM "))
    assert "requirements.txt" in dockerfile
