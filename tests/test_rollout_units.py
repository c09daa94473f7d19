"""bento.rollout on its own: a fake clock, fake valuators, a real champion pointer file."""

from __future__ import annotations

import json

from autovalue.champion_pointer import read_champion, read_champion_record, write_champion
from bento.rollout import Rollout


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def point(models_dir, version: str, since: float) -> None:
    write_champion(models_dir, version)
    record = read_champion_record(models_dir)
    (models_dir / "champion.json").write_text(json.dumps({**record, "since": since}))


def rollout(tmp_path, clock, fail: set[str] = frozenset()):
    loaded, switched = [], []

    def load(version: str) -> str:
        if version in fail:
            raise OSError(f"{version} is broken")
        loaded.append(version)
        return f"valuator {version}"

    return Rollout(tmp_path, "v1", load, lambda v, valuator: switched.append((v, valuator)), settle_s=10,
                   clock=clock), loaded, switched


def test_a_new_champion_is_loaded_at_once_and_served_from_its_moment(tmp_path):
    clock = Clock(1000.0)
    r, loaded, switched = rollout(tmp_path, clock)
    point(tmp_path, "v2", since=1000.0)
    r.step()
    assert loaded == ["v2"] and switched == [] and r.current == "v1"
    assert r.choose("valuator v1") == "valuator v1" and r.wait_s(5.0) == 5.0
    clock.now = 1007.0
    assert r.wait_s(5.0) == 3.0  # wakes for the moment, not a poll later
    clock.now = 1010.0  # the moment: requests take the new model before the thread has switched
    assert r.choose("valuator v1") == "valuator v2"
    r.step()
    assert switched == [("v2", "valuator v2")] and r.current == "v2" and r.pending is None
    r.step()
    assert loaded == ["v2"] and len(switched) == 1  # nothing more to do


def test_a_model_loaded_after_its_moment_is_served_at_once(tmp_path):
    clock = Clock(2000.0)
    r, _, switched = rollout(tmp_path, clock)
    point(tmp_path, "v3", since=1000.0)
    r.step()
    assert switched == [("v3", "valuator v3")]


def test_a_rollback_before_the_moment_keeps_the_served_model(tmp_path):
    clock = Clock(1000.0)
    r, loaded, switched = rollout(tmp_path, clock)
    point(tmp_path, "v2", since=1000.0)
    r.step()
    point(tmp_path, "v1", since=1001.0)
    r.step()
    clock.now = 1100.0
    r.step()
    assert loaded == ["v2"] and switched == [] and r.choose("valuator v1") == "valuator v1"


def test_a_model_that_cannot_be_loaded_is_reported_once_and_the_old_one_served(tmp_path, caplog):
    clock = Clock(1000.0)
    r, loaded, switched = rollout(tmp_path, clock, fail={"v2"})
    point(tmp_path, "v2", since=1000.0)
    for _ in range(3):
        clock.now += 20
        r.step()
    assert loaded == [] and switched == [] and r.current == "v1"
    assert [m for m in caplog.messages if "cannot be loaded" in m] == [
        "champion v2 cannot be loaded, still serving v1: OSError: v2 is broken"]


def test_the_pointer_before_it_had_a_time_and_a_broken_one(tmp_path):
    (tmp_path / "champion.json").write_text(json.dumps({"version": "v4"}))
    assert read_champion(tmp_path) == "v4" and "since" not in read_champion_record(tmp_path)
    r, _, switched = rollout(tmp_path, Clock(1000.0))
    r.step()
    assert switched == [("v4", "valuator v4")]  # an old pointer's moment has long passed
    (tmp_path / "champion.json").write_text("{not json")
    assert read_champion_record(tmp_path) is None
    r.step()  # nothing to act on, nothing raised


def test_the_champion_moves_once_in_its_record_and_the_alias_only_mirrors_it(tmp_path):
    """models/champion.json is the champion's one record: written first, it stands when MLflow's
    alias cannot follow, and the trainer's idea of the champion is read from it, not the alias."""
    from types import SimpleNamespace

    from autovalue.settings import Settings
    from training.champion import set_champion
    from training.tracking import champion_version

    class Registry:
        def set_registered_model_alias(self, name, alias, version):
            raise RuntimeError("registry unreachable")

        def get_model_version(self, name, version):
            return SimpleNamespace(version=version)

    settings = Settings(home=tmp_path)
    set_champion(Registry(), settings, "3")
    assert read_champion(settings.models_dir) == "v3"
    assert champion_version(Registry(), settings).version == "3"  # the record, whatever the alias says


def test_the_champion_record_names_the_champion_it_replaced(tmp_path):
    write_champion(tmp_path, "v1")
    assert read_champion_record(tmp_path)["previous"] is None
    write_champion(tmp_path, "v2")
    write_champion(tmp_path, "v2")  # set again: still the one it replaced, not itself
    assert (read_champion(tmp_path), read_champion_record(tmp_path)["previous"]) == ("v2", "v1")
    write_champion(tmp_path, "v1")  # a rollback
    assert read_champion_record(tmp_path)["previous"] == "v2"
