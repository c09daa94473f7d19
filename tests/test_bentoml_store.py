"""training/bentoml_store.py still names a store per call in the pinned BentoML: an upgrade that
moves ModelStore or the `_model_store=` argument fails here, not in the first export."""

from __future__ import annotations

from pathlib import Path

import bentoml
import pytest
from bentoml.exceptions import NotFound

from training.bentoml_store import PINNED_VERSION, create_model, get_model


def test_written_for_the_installed_bentoml():
    assert bentoml.__version__ == PINNED_VERSION, "re-check training/bentoml_store.py against this BentoML"


def test_each_home_has_its_own_store_in_one_process(tmp_path):
    for home in (tmp_path / "a", tmp_path / "b"):  # the same tag in both: no "already exists"
        with create_model(home, "probe:v1", labels={"home": home.name}) as entry:
            (Path(entry.path) / "file.txt").write_text(home.name)
    for home in (tmp_path / "a", tmp_path / "b"):
        entry = get_model(home, "probe:v1")
        assert entry.info.labels == {"home": home.name}
        assert (Path(entry.path) / "file.txt").read_text() == home.name
    with pytest.raises(NotFound):
        get_model(tmp_path / "c", "probe:v1")
