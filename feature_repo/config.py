"""The Feast repo configuration, built from the settings (embedded or production)."""

from __future__ import annotations

from pathlib import Path

import yaml
from feast import FeatureStore, RepoConfig

from autovalue.settings import Settings

REPO_DIR = Path(__file__).resolve().parent


def config_dict(settings: Settings) -> dict:
    data = settings.data_dir.resolve()
    registry_url = settings.feast_registry_url or f"sqlite:///{data / 'feast_registry.db'}"
    if settings.feast_mode == "production":
        online = {"type": "redis", "connection_string": settings.feast_redis}
    else:
        online = {"type": "sqlite", "path": str(data / "online_store.db")}
    return {
        "project": settings.feast_project,
        "provider": "local",
        # A SQL registry, even embedded: the file registry corrupts under concurrent processes.
        "registry": {"registry_type": "sql", "path": registry_url, "cache_ttl_seconds": 60},
        "online_store": online,
        "offline_store": {"type": "duckdb"},
        "entity_key_serialization_version": 3,
    }


def feature_store(settings: Settings) -> FeatureStore:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    config = RepoConfig(repo_path=REPO_DIR, **config_dict(settings))
    return FeatureStore(config=config)


def feature_store_yaml_path(settings: Settings) -> Path:
    # Under the data folder, never in the package folder (read-only once installed).
    return settings.data_dir / "feature_store.yaml"


def write_feature_store_yaml(settings: Settings, path: Path | None = None) -> Path:
    """For the Feast CLI: the same configuration as a file (see `feast_cli_command`)."""
    path = path or feature_store_yaml_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config_dict(settings), sort_keys=False))
    return path


def feast_cli_command(settings: Settings, yaml_path: Path, command: str = "plan") -> str:
    """The Feast CLI changes into the repo folder before it imports repo.py, so the settings'
    home must come from AUTOVALUE_HOME, not the working directory."""
    return (f"AUTOVALUE_HOME={settings.home.resolve()} feast -c {REPO_DIR} "
            f"-f {yaml_path.resolve()} {command}")
