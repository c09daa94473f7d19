"""Writing market tables to data/raw/ atomically: a table and its metadata, or nothing."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from autovalue.market_attributes import meta_path
from autovalue.parquet import read_parquet
from autovalue.schema import CANONICAL_COLUMNS


def table_path(raw_dir: Path, source: str) -> Path:
    return raw_dir / f"{source}.parquet"




def write_source(raw_dir: Path, source: str, chunks: Iterable[pd.DataFrame], meta: dict,
                 attributes: list[str] = ()) -> Path:
    """Stream chunks into `<source>.parquet` (the canonical columns, then the market's own
    `attributes`); the files appear only once all is written."""
    columns = [*CANONICAL_COLUMNS, *attributes]
    raw_dir.mkdir(parents=True, exist_ok=True)
    target = table_path(raw_dir, source)
    partial = target.with_suffix(f".parquet.{os.getpid()}.partial")
    writer = None
    try:
        for chunk in chunks:
            table = pa.Table.from_pandas(chunk[columns], preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(partial, table.schema)
            writer.write_table(table.cast(writer.schema))
        if writer is None:
            raise ValueError(f"{source}: no rows to write")
        writer.close()
        writer = None
        meta_partial = meta_path(raw_dir, source).with_suffix(".json.partial")
        meta_partial.write_text(json.dumps(meta, indent=2, default=str))
        os.replace(partial, target)
        os.replace(meta_partial, meta_path(raw_dir, source))
    finally:
        if writer is not None:
            writer.close()
        partial.unlink(missing_ok=True)
    return target


def read_meta(raw_dir: Path, source: str) -> dict:
    return json.loads(meta_path(raw_dir, source).read_text())


def read_source(raw_dir: Path, source: str) -> pd.DataFrame:
    return read_parquet(table_path(raw_dir, source))
