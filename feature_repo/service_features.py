"""The feature service as the service and the trainer use it: market views read by key,
request-time views computed by their registered transformation.

Feast converts every online value between protobuf and Python one by one, and carries every
request column through each point-in-time join. Both are avoided here: market views are read
online on the entity keys only, each distinct key once; offline, each view is one as-of join
(feature_repo.asof_join) where that is Feast's own join, else Feast's join on the entity keys
only; the on-demand views run the transformation Feast registered for them, over the whole
batch. The results equal `get_online_features(service).to_dict()` and
`get_historical_features(service)` (tests/test_features.py and tests/test_asof_join.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter

import numpy as np
import pandas as pd
import pyarrow as pa
from feast.types import String

from autovalue.feature_inputs import ENTITY_KEYS
from feature_repo.asof_join import market_asof
from feature_repo.feast_internals import run_transformation


class ServiceFeatures:
    def __init__(self, store, service_name: str) -> None:
        self.store = store
        self.name = service_name
        service = store.get_feature_service(service_name)
        on_demand = {view.name: view for view in store.list_on_demand_feature_views()}
        self.market_refs: list[str] = []
        self.market_projections = []
        self.transforms = []
        self.features: list[str] = []
        self.categorical: list[str] = []
        for projection in service.feature_view_projections:
            names = [feature.name for feature in projection.features]
            self.features += names
            self.categorical += [f.name for f in projection.features if f.dtype == String]
            if projection.name in on_demand:
                self.transforms.append((on_demand[projection.name], names))
            else:
                self.market_projections.append(projection)
                self.market_refs += [f"{projection.name_to_use()}:{name}" for name in names]
        self.request_features = [name for _, names in self.transforms for name in names]
        # What the request-time views take: the listing's fields and its market's attributes.
        self.request_fields: list[str] = list(dict.fromkeys(
            field.name for view, _ in self.transforms
            for request in view.source_request_sources.values() for field in request.schema))
        self.market_features = [name for name in self.features if name not in self.request_features]

    def transform(self, request: Mapping[str, Sequence]) -> dict[str, list]:
        """The on-demand views' outputs for request fields given as a dict of columns."""
        columns = {k: list(request[k]) for k in self.request_fields}
        out = {}
        for view, names in self.transforms:
            transformed = run_transformation(view, columns)
            out.update({name: list(transformed[name]) for name in names})
        return out

    def read_market(self, keys: Sequence[tuple], with_timestamps: bool = False) -> dict[str, list]:
        """Market features of distinct entity-key tuples (ENTITY_KEYS order), one value per key.
        With timestamps, each feature also has `<name>__ts` (epoch seconds)."""
        if not self.market_refs:  # an undated market's service: request-time features only
            return {}
        response = self.store.get_online_features(
            features=self.market_refs,
            entity_rows={k: [key[i] for key in keys] for i, k in enumerate(ENTITY_KEYS)},
        ).to_dict(include_event_timestamps=with_timestamps)
        keys_out = set(ENTITY_KEYS) | {f"{k}__ts" for k in ENTITY_KEYS}
        return {name: values for name, values in response.items() if name not in keys_out}

    def read_online(self, inputs: Mapping[str, Sequence], with_timestamps: bool = False,
                    read_market: Callable[[list[tuple]], dict[str, list]] | None = None) -> dict[str, list]:
        """`inputs`: entity keys + request fields (autovalue.feature_inputs) of n listings.
        With timestamps, each market feature also has `<name>__ts` (epoch seconds).
        `read_market(distinct_keys)` replaces the Feast read (the service passes a cached one);
        it decides about timestamps itself."""
        keys = list(zip(*(inputs[k] for k in ENTITY_KEYS)))
        distinct = list(dict.fromkeys(keys))
        market = read_market(distinct) if read_market else self.read_market(distinct, with_timestamps)
        position = {key: i for i, key in enumerate(distinct)}
        rows = [position[key] for key in keys]
        pick = _picker(rows)
        out: dict[str, list] = {k: list(inputs[k]) for k in ENTITY_KEYS}
        for name, values in market.items():
            out[name] = list(pick(values))
        out.update(self.transform(inputs))
        return out

    def historical(self, entity: pd.DataFrame, request: Mapping[str, Sequence]) -> dict[str, Sequence]:
        """Point-in-time join of the market views for `entity` (row_id, entity keys,
        event_timestamp), plus the request-time features: columns in `entity`'s row order (the
        caller makes one frame of them: each frame built on the way copied a million rows).
        One as-of join per view (feature_repo.asof_join) where it is Feast's join; else Feast's."""
        market = market_asof(self.store, self.market_projections, entity)
        if market is None:
            market = self.feast_historical(entity)
        columns = self.transform(request)
        for name, values in columns.items():  # each list freed as it becomes an array (a float is 32 bytes in a list)
            columns[name] = np.asarray(values, dtype=object if name in self.categorical else float)
        return {**market, **columns}

    def feast_historical(self, entity: pd.DataFrame, chunk_rows: int = 250_000) -> dict[str, np.ndarray]:
        """The market views' features for `entity`'s rows through Feast's own point-in-time join,
        in chunks (its memory grows with the rows it holds at once)."""
        columns = ["row_id", *ENTITY_KEYS, "event_timestamp"]
        parts = []
        for start in range(0, len(entity), chunk_rows):
            parts.append(self.store.get_historical_features(
                entity_df=entity[columns].iloc[start:start + chunk_rows], features=self.market_refs,
                # Late corrections created after the event must not be used.
                filter_by_created_timestamp=True,
            ).to_arrow())
        joined = pa.concat_tables(parts)
        # Feast returns rows in its own order: put them back by our row id.
        position = pd.Index(joined.column("row_id").to_numpy()).get_indexer(entity["row_id"].to_numpy())
        if (position < 0).any():
            raise RuntimeError("the point-in-time join lost entity rows")  # Feast's join is a left join
        joined = joined.take(pa.array(position))
        names = [ref.split(":", 1)[1] for ref in self.market_refs]
        return {name: joined.column(name).to_numpy(zero_copy_only=False) for name in names}


def _picker(rows: list[int]) -> Callable[[Sequence], Sequence]:
    """values -> their items at `rows`. itemgetter does it in C (a quarter of the list
    comprehension's time for a batch), but gives a bare value for one index and needs one."""
    if len(rows) > 1:
        return itemgetter(*rows)
    return lambda values: [values[i] for i in rows]
