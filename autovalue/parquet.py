"""Reading a parquet file into pandas: the one way every part does it.

Given a local path, pandas opens the file itself and hands pyarrow a Python file object, which
pyarrow then reads on its own threads. With pyarrow 25 such a process often aborts while it exits
("terminate called without an active exception", SIGABRT, after all its work is done: see
apache/arrow#34314), so a command that did its job could still exit 134. Naming the local
filesystem lets pyarrow open the file itself, the path it takes when called directly, which does
not abort. tests/test_parquet.py runs both ways in fresh processes.
"""

from __future__ import annotations

from os import PathLike

import pandas as pd
import pyarrow as pa
from pyarrow.fs import LocalFileSystem

_LOCAL = LocalFileSystem()


def read_parquet(path: str | PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """Arrow's allocator keeps the file's buffers after the conversion to pandas (a third of a
    market file's footprint: bench/README.md, "Features"): handed back at once, so what the
    process holds afterwards is the frame alone."""
    frame = pd.read_parquet(str(path), columns=columns, filesystem=_LOCAL)
    pa.default_memory_pool().release_unused()
    return frame
