"""The Feast internal the feature service relies on, in one place (written for feast 0.67.0).

An on-demand view's registered function is called directly (the `udf` of its
`feature_transformation`) on a batch of request columns. Feast's public
`OnDemandFeatureView.transform_dict` calls the same function, but type-checks its arguments at
run time on every call and copies and merges the columns around it: for one listing, that costs
more than the transformation itself. tests/test_feast_internals.py fails as soon as an upgrade
changes the version or what the function returns.
"""

from __future__ import annotations

from collections.abc import Mapping

WRITTEN_FOR = "0.67.0"


def run_transformation(view, columns: dict[str, list]) -> Mapping[str, list]:
    """The python-mode view's registered function on request columns: its outputs, as
    `view.transform_dict(columns)` has them."""
    return view.feature_transformation.udf(columns)
