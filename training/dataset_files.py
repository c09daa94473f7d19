"""A TrainingData stored as one parquet file: the frame, with the rest in the file's metadata.

Lets `autovalue train --dataset FILE.parquet` reuse a point-in-time dataset built earlier (or
built elsewhere) without rebuilding it, and makes the exact training input easy to archive.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from training.dataset import TrainingData

METADATA_KEY = b"autovalue.training_data"
OBSERVATION = "observation"  # "sale" (the frame) or "asking" (TrainingData.asking)


def save_dataset(data: TrainingData, path: Path) -> Path:
    """The asking-price rows, if any, go in the same file, marked in an OBSERVATION column."""
    fields = {k: v for k, v in asdict(data).items() if k not in ("frame", "asking")}
    frame = data.frame.assign(**{OBSERVATION: "sale"})
    if data.asking is not None:
        frame = pd.concat([frame, data.asking.assign(**{OBSERVATION: "asking"})], ignore_index=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           METADATA_KEY: json.dumps(fields, default=str).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def load_dataset(path: Path) -> TrainingData:
    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise ValueError(f"{path}: not a stored training dataset (no {METADATA_KEY.decode()} metadata)")
    frame = table.to_pandas()
    if OBSERVATION not in frame.columns:  # a file from before asking rows
        return TrainingData(frame=frame, **json.loads(raw))
    kind = frame.pop(OBSERVATION)
    asking = frame[kind == "asking"].reset_index(drop=True)
    return TrainingData(frame=frame[kind == "sale"].reset_index(drop=True), asking=asking if len(asking) else None,
                        **json.loads(raw))
