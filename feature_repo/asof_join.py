"""The market views' point-in-time join as one as-of join per view: Feast's semantics, its speed
bounded by a sort.

Feast's DuckDB offline store (through ibis) joins each entity row to every feature row of its key
and then keeps the newest inside the TTL; at a million entity rows that is most of a dataset's
time. For a view whose batch source is a parquet file without a created-timestamp column, the
result is defined exactly by: per entity row, the feature row with the same join keys and the
latest timestamp `ts` with event_timestamp - ttl <= ts <= event_timestamp, else nulls. That is a
backward as-of join with the TTL as its tolerance (pandas' `merge_asof`).

Anything else (a created-timestamp column, two rows of one key at one timestamp, a source that
is not a file) is answered by `None`, and the caller asks Feast. `get_historical_features` stays
the definition: tests/test_asof_join.py checks this join against it row for row at the TTL's edges
and across time zones, tests/test_features.py a whole dataset on a sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from feast import FileSource


def market_asof(store, projections: Sequence, entity: pd.DataFrame,
                event_column: str = "event_timestamp") -> dict[str, np.ndarray] | None:
    """Feature columns (`view features` of each projection, in entity order) for `entity`'s rows,
    or None where this join does not reproduce Feast's (see the module's docstring)."""
    events = _utc_naive(entity[event_column])
    order = np.argsort(events, kind="stable")
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    out: dict[str, np.ndarray] = {}
    for projection in projections:
        view = store.get_feature_view(projection.name)
        keys = projection.join_key_map or {e.name: e.name for e in view.entity_columns}
        features = [f.name for f in projection.features]
        table = _feature_table(view, list(keys), features, events)
        if table is None:
            return None
        left = pd.DataFrame({"_event": events[order], **{k: entity[v].to_numpy()[order] for k, v in keys.items()}})
        right = table[[*keys, "_ts"]].assign(_row=np.arange(len(table), dtype=float))
        ttl = pd.Timedelta(view.ttl) if view.ttl else None
        # Only the matched row's number comes out of the join; each feature is then one take,
        # straight into entity order (the joined frame of every feature was a copy too many).
        row = pd.merge_asof(left, right, left_on="_event", right_on="_ts", by=list(keys), direction="backward",
                            allow_exact_matches=True, tolerance=ttl)["_row"].to_numpy()[back]
        found = ~np.isnan(row)
        at = np.where(found, row, 0).astype(np.intp)
        for name in features:
            out[name] = _take(table[name].to_numpy(), at, found)
    return out


def _take(values: np.ndarray, at: np.ndarray, found: np.ndarray) -> np.ndarray:
    """values[at], missing (NaN, or None for other kinds) where nothing was found, as Feast has it."""
    taken = values[at] if len(values) else np.full(len(at), np.nan)
    if found.all():
        return taken
    if taken.dtype.kind != "f":
        taken = taken.astype(object)
        taken[~found] = None
    else:
        taken[~found] = np.nan
    return taken

def _utc_naive(moments: pd.Series) -> np.ndarray:
    """UTC instants as naive datetime64[ns] (a naive input is UTC, as Feast reads it): both sides
    of the join on one clock and one unit. (A tz-aware column's to_numpy() would box each row.)"""
    return pd.to_datetime(moments, utc=True).dt.tz_localize(None).astype("datetime64[ns]").to_numpy()


def _feature_table(view, keys: list[str], features: list[str], events: np.ndarray) -> pd.DataFrame | None:
    """The view's rows that some entity row can see, sorted by time; None if the as-of join
    would not be Feast's."""
    source = view.batch_source
    if not isinstance(source, FileSource) or source.created_timestamp_column:
        return None
    renamed = {v: k for k, v in (source.field_mapping or {}).items()}  # view name -> file column
    columns = [renamed.get(c, c) for c in [*keys, source.timestamp_field, *features]]
    frame = pq.read_table(source.path, columns=columns).to_pandas()
    frame.columns = [*keys, "_ts", *features]
    frame["_ts"] = _utc_naive(frame["_ts"])
    if len(events):
        # The TTL window pushed into the scan: rows no entity row's window reaches are dropped.
        ttl = pd.Timedelta(view.ttl) if view.ttl else None
        keep = frame["_ts"] <= events.max()
        if ttl is not None:
            keep &= frame["_ts"] >= events.min() - ttl
        frame = frame[keep]
    if frame.duplicated([*keys, "_ts"]).any():
        return None  # Feast picks one of the duplicates arbitrarily: leave the choice to Feast
    return frame.sort_values("_ts", kind="stable").reset_index(drop=True)
