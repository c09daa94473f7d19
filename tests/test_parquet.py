"""Every part reads parquet through autovalue.parquet: the way pandas reads a local path by
default lets pyarrow abort the process while it exits (see the module), so a command that did its
work could still fail."""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from autovalue.parquet import read_parquet

ROOT = Path(__file__).resolve().parents[1]
PARTS = ["app", "autovalue", "autovalue_cli", "bento", "bench", "consumers", "feature_repo", "market", "training"]


def test_a_process_that_read_parquet_exits_cleanly_every_time(tmp_path):
    path = tmp_path / "cars.parquet"
    pd.DataFrame({"brand": ["Toyota", "Honda"] * 50, "year": range(100)}).to_parquet(path)
    script = f"from autovalue.parquet import read_parquet; assert len(read_parquet({str(path)!r}, ['year'])) == 100"
    # pandas' default read aborted about one such process in five here: 16 clean exits in a row
    # would happen by chance about one time in forty.
    def run(_):
        return subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, range(16)))
    assert [r.returncode for r in results] == [0] * 16, [r.stderr[-300:] for r in results if r.returncode]


def test_the_columns_asked_for_and_only_those(tmp_path):
    path = tmp_path / "cars.parquet"
    pd.DataFrame({"brand": ["Toyota"], "year": [2019]}).to_parquet(path)
    assert list(read_parquet(path, ["year"]).columns) == ["year"]
    assert read_parquet(path).to_dict("records") == [{"brand": "Toyota", "year": 2019}]


def test_no_part_reads_parquet_through_pandas_directly():
    direct = [f"{path.relative_to(ROOT)}:{number}" for part in PARTS for path in (ROOT / part).rglob("*.py")
              for number, line in enumerate(path.read_text().splitlines(), 1)
              if re.search(r"\bpd\.read_parquet\(", line) and path.name != "parquet.py"]
    assert direct == []
