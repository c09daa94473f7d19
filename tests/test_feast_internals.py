"""feature_repo/feast_internals.py still runs what Feast registered: an upgrade that changes the
version, or what an on-demand view's function gives, fails here, not as other features served."""

from __future__ import annotations

import feast
import pytest
from feast.on_demand_feature_view import OnDemandFeatureView

from feature_repo.definitions import listing_features
from feature_repo.feast_internals import WRITTEN_FOR, run_transformation

LISTINGS = {"listed_at_epoch": [1.7e9, 1.6e9], "brand": ["Volkswagen", "Skoda"], "model": ["Golf", "Octavia"],
            "year": [2018, 2015], "mileage_km": [80_000.0, None], "fuel": ["petrol", "diesel"],
            "transmission": ["manual", "automatic"], "body_type": ["hatchback", "estate"],
            "region": ["north", "south"], "seller_type": ["dealer", "private"]}


def test_written_for_the_installed_feast():
    assert feast.__version__ == WRITTEN_FOR, "re-check feature_repo/feast_internals.py against this Feast"


# As defined, and as read back from a registry (the function rebuilt from its source text).
@pytest.mark.parametrize("view", [listing_features, OnDemandFeatureView.from_proto(listing_features.to_proto())],
                         ids=["defined", "registered"])
def test_the_function_gives_what_feasts_public_transform_gives(view):
    ours = run_transformation(view, {k: list(v) for k, v in LISTINGS.items()})
    public = view.transform_dict({k: list(v) for k, v in LISTINGS.items()})
    names = [feature.name for feature in view.features]
    assert set(names) <= set(ours), sorted(ours)
    assert {name: ours[name] for name in names} == {name: public[name] for name in names}
