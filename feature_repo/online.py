"""Online reads of the feature service for a batch of listings, as the service needs them.

Feast converts every value between protobuf and Python one by one; a batch of 500 listings
has only a few dozen distinct car models, brands and segments. So the market views are read
once per distinct key, and the request-time view runs Feast's own transformation of the
registered on-demand view over the whole batch, with no protobuf round trip. The result is
the same dict of columns that `get_online_features(...).to_dict()` returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from autovalue.feature_inputs import ENTITY_KEYS, REQUEST_FIELDS


class OnlineFeatures:
    def __init__(self, store, service_name: str) -> None:
        self.store = store
        service = store.get_feature_service(service_name)
        on_demand = {view.name: view for view in store.list_on_demand_feature_views()}
        self.market_refs: list[str] = []
        self.transforms = []
        self.features: list[str] = []
        for projection in service.feature_view_projections:
            names = [feature.name for feature in projection.features]
            self.features += names
            if projection.name in on_demand:
                self.transforms.append((on_demand[projection.name], names))
            else:
                self.market_refs += [f"{projection.name_to_use()}:{name}" for name in names]
        self.market_names = [ref.split(":", 1)[1] for ref in self.market_refs]

    def read(self, inputs: Mapping[str, Sequence], with_timestamps: bool = False) -> dict[str, list]:
        """`inputs`: entity keys + request fields (autovalue.feature_inputs) for n listings."""
        n = len(inputs[ENTITY_KEYS[0]])
        keys = list(zip(*(inputs[k] for k in ENTITY_KEYS)))
        distinct = list(dict.fromkeys(keys))
        response = self.store.get_online_features(
            features=self.market_refs,
            entity_rows={k: [key[i] for key in distinct] for i, k in enumerate(ENTITY_KEYS)},
        ).to_dict(include_event_timestamps=with_timestamps)
        position = {key: i for i, key in enumerate(distinct)}
        rows = [position[key] for key in keys]
        out: dict[str, list] = {k: list(inputs[k]) for k in ENTITY_KEYS}
        for name, values in response.items():
            if name not in ENTITY_KEYS:
                out[name] = [values[i] for i in rows]
        request = {k: list(inputs[k]) for k in REQUEST_FIELDS}
        for view, names in self.transforms:
            transformed = view.feature_transformation.udf(request)
            for name in names:
                out[name] = list(transformed[name])
        assert all(len(v) == n for v in out.values())
        return out
