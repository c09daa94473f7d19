"""The Feast CLI on the project's repo: `autovalue feast-config` writes feature_store.yaml under the
data folder (never into the installed package) and prints the command; `feast apply` through that
command registers FileSources under the settings' data folder."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from autovalue.settings import Settings
from feature_repo.config import REPO_DIR

pytestmark = pytest.mark.slow
FEAST = Path(sys.executable).with_name("feast")


def _env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("AUTOVALUE_")}, **extra}


def test_feast_config_then_the_printed_feast_command(tmp_path):
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = sorted(p.name for p in REPO_DIR.iterdir())
    result = subprocess.run([sys.executable, "-m", "autovalue_cli.main", "feast-config"], cwd=elsewhere,
                            env=_env(AUTOVALUE_HOME=str(home)), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    yaml_path = home / "data" / "feature_store.yaml"
    assert yaml_path.is_file() and str(yaml_path) in result.stdout
    assert sorted(p.name for p in REPO_DIR.iterdir()) == before  # nothing written into the package folder

    command = shlex.split(result.stdout.split("for the Feast CLI run: ", 1)[1].strip())
    assert command[0] == f"AUTOVALUE_HOME={home}" and command[1] == "feast" and command[-1] == "plan"
    applied = subprocess.run([str(FEAST), *command[2:-1], "apply"], cwd=elsewhere,
                             env=_env(AUTOVALUE_HOME=str(home)), capture_output=True, text=True, timeout=300)
    assert applied.returncode == 0, applied.stdout + applied.stderr

    from feature_repo.config import feature_store

    store = feature_store(Settings(home=home))
    paths = {source.name: source.path for source in store.list_data_sources() if hasattr(source, "path")}
    assert paths and all(Path(p).parent == home / "data" / "processed" for p in paths.values()), paths


def test_the_repo_refuses_to_guess_the_home_under_the_feast_cli(tmp_path):
    """Feast changes into feature_repo/ before importing repo.py: the working directory says nothing."""
    yaml_path = tmp_path / "feature_store.yaml"
    subprocess.run([sys.executable, "-m", "autovalue_cli.main", "feast-config", "--out", str(yaml_path)],
                   env=_env(AUTOVALUE_HOME=str(tmp_path)), check=True, capture_output=True, timeout=120)
    result = subprocess.run([str(FEAST), "-c", str(REPO_DIR), "-f", str(yaml_path), "plan"], cwd=tmp_path,
                            env=_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "set AUTOVALUE_HOME" in result.stderr + result.stdout
