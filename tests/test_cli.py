"""`autovalue` as a user meets it: every expected failure is one line on stderr naming what is
wrong, exit status 2, no traceback; every command and flag is described."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from autovalue_cli.common import utc_datetime
from autovalue_cli.main import build_parser
from tests.conftest import free_port


def run_cli(*args: str, home, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUTOVALUE_")}
    return subprocess.run([sys.executable, "-m", "autovalue_cli.main", *args], capture_output=True, text=True,
                          env={**clean, "AUTOVALUE_HOME": str(home), **env}, timeout=120)


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "error:" in lines[0] and all(word in lines[0] for word in words), lines[0]
    return lines[0]


def test_train_with_a_missing_dataset(tmp_path):
    assert_one_line_error(run_cli("train", "--dataset", "/nonexistent", home=tmp_path), "/nonexistent")


def test_train_with_a_file_that_is_not_a_dataset(tmp_path):
    (tmp_path / "x.parquet").write_text("not parquet")
    assert_one_line_error(run_cli("train", "--dataset", str(tmp_path / "x.parquet"), home=tmp_path),
                          "not a stored training dataset")


def test_rescore_with_a_date_that_is_not_one(tmp_path):
    assert_one_line_error(run_cli("rescore", "--since", "notadate", home=tmp_path), "--since", "notadate")


def test_rescore_keeps_an_explicit_offset_and_reads_a_bare_time_as_utc():
    assert utc_datetime("2026-11-29T08:00+07:00") == datetime(2026, 11, 29, 1, 0, tzinfo=timezone.utc)
    assert utc_datetime("2026-11-29T08:00+07:00").utcoffset() == timedelta(hours=7)
    assert utc_datetime("2026-11-29T08:00") == datetime(2026, 11, 29, 8, 0, tzinfo=timezone.utc)
    assert utc_datetime("2026-11-29") == datetime(2026, 11, 29, tzinfo=timezone.utc)


def test_topics_without_a_broker_says_so_after_a_short_wait(tmp_path):
    bootstrap = f"127.0.0.1:{free_port()}"  # nothing listens there
    result = run_cli("topics", "--wait", "1", home=tmp_path, AUTOVALUE_KAFKA_BOOTSTRAP=bootstrap)
    assert_one_line_error(result, bootstrap, "no Kafka broker")


@pytest.mark.parametrize("command", [["features"], ["dataset", "--out", "x.parquet"], ["train"]])
def test_an_unknown_market_source(tmp_path, command):
    assert_one_line_error(run_cli(*command, "--source", "nosuch", home=tmp_path), "nosuch")


@pytest.mark.parametrize("variable,value", [("AUTOVALUE_TOPIC_PARTITIONS", "abc"), ("AUTOVALUE_LOG_LEVEL", "loud"),
                                            ("AUTOVALUE_FEAST_MODE", "cloud"), ("AUTOVALUE_SERVICE_PORT", "x"),
                                            ("AUTOVALUE_REPORT_RESIDUAL_FEATURES", "[oops")])
def test_a_bad_setting_is_named_even_for_help(tmp_path, variable, value):
    assert_one_line_error(run_cli("--help", home=tmp_path, **{variable: value}), variable)
    assert_one_line_error(run_cli("topics", home=tmp_path, **{variable: value}), variable)


def test_serve_in_production_mode_needs_an_api_key(tmp_path):
    assert_one_line_error(run_cli("serve", home=tmp_path, AUTOVALUE_MODE="production"), "AUTOVALUE_API_KEY")


def test_a_usage_error_is_one_line(tmp_path):
    assert_one_line_error(run_cli("simulate", "--rate", "fast", home=tmp_path), "--rate")
    assert_one_line_error(run_cli("nosuchcommand", home=tmp_path), "nosuchcommand")


def test_simulate_names_a_scenario_segment_or_start_day_that_does_not_exist(tmp_path):
    assert_one_line_error(run_cli("simulate", "--scenario", "crash", home=tmp_path), "--scenario", "crash")
    assert_one_line_error(run_cli("simulate", "--scenario", "shock", "--segment", "boat", home=tmp_path),
                          "unknown segment 'boat'", "suv")
    assert_one_line_error(run_cli("simulate", "--scenario", "launch", "--start-day", "-1", home=tmp_path),
                          "before the stream starts")
    assert_one_line_error(run_cli("simulate", home=tmp_path, AUTOVALUE_MARKET_DAYS_PER_MINUTE="0"),
                          "AUTOVALUE_MARKET_DAYS_PER_MINUTE")


def test_version(tmp_path):
    result = run_cli("--version", home=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("autovalue 0."), result


def _commands() -> dict[str, argparse.ArgumentParser]:
    return build_parser()._subparsers._group_actions[0].choices


def test_every_command_has_a_description_and_every_flag_help():
    for name, parser in _commands().items():
        assert parser.description and parser.description != parser.prog, name
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            assert action.help, (name, action.dest)


def test_help_shows_defaults(tmp_path):
    result = run_cli("train", "--help", home=tmp_path)
    assert result.returncode == 0 and "the default for dated data" in " ".join(result.stdout.split()) and "(default: 42)" in result.stdout


def test_replaying_an_undated_source_says_there_is_nothing_to_replay(tmp_path):
    mapping = tmp_path / "undated.yaml"
    mapping.write_text("name: undated\ncurrency: USD\ncolumns:\n  brand: {from: make}\n  model: {from: type}\n"
                       "  year: {from: built, parse: int}\n  mileage_km: {from: km, parse: number}\n"
                       "  asking_price: {from: price, parse: number}\n")
    (tmp_path / "cars.csv").write_text("make,type,built,km,price\nFord,Focus,2015,80000,7000\n")
    assert run_cli("import", str(tmp_path / "cars.csv"), "--mapping", str(mapping), home=tmp_path).returncode == 0
    line = assert_one_line_error(run_cli("replay", "undated", home=tmp_path), "undated has no listing dates")
    assert line.endswith("nothing to replay")
    assert_one_line_error(run_cli("replay", "nosuch", home=tmp_path), "nosuch")
    assert_one_line_error(run_cli("replay", "undated", "--speedup", "0", home=tmp_path), "--speedup")


def test_the_market_feed_without_its_market(tmp_path):
    assert_one_line_error(run_cli("market-feed", home=tmp_path, AUTOVALUE_MARKET_SOURCE="nosuch"), "nosuch")
