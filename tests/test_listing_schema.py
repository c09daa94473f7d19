"""The listing is declared once, as autovalue.schema.Listing: every other place that spells out
its fields (Feast's request schema, the feature inputs, the training columns, the stored columns,
the simulator's messages, the market files) derives them and must agree with it."""

from __future__ import annotations

import pandas as pd
from feast.types import Float64, Int64, String

from autovalue.feature_inputs import ENTITY_KEYS, REQUEST_FIELDS, feature_inputs
from autovalue.schema import (ATTRIBUTE_KINDS, CANONICAL_COLUMNS, CAR_ATTRIBUTES, ENUM_COLUMNS, LISTING_FIELDS,
                              REQUIRED_COLUMNS, Listing, attribute_columns)
from autovalue.settings import Settings
from autovalue.tables import STORED_AS, valuations
from consumers.simulator import MESSAGE_FIELDS, ListingFactory
from feature_repo.definitions import listing_request

LISTING = {"listing_id": "a1", "listed_at": "2026-05-01T10:00:00+07:00", "brand": "Toyota", "model": "Avanza",
           "year": 2020, "mileage_km": 50_000, "fuel": "diesel", "transmission": "automatic",
           "body_type": "mpv", "region": "Bali", "seller_type": "dealer", "asking_price": 180e6}


def test_the_declaration():
    assert LISTING_FIELDS == list(LISTING) == list(Listing.model_fields)
    assert CAR_ATTRIBUTES == [f for f in LISTING_FIELDS if f not in ("listing_id", "listed_at", "asking_price")]
    assert REQUIRED_COLUMNS == ["listing_id", "brand", "model", "year"]
    assert set(ENUM_COLUMNS) == {"fuel", "transmission", "body_type", "seller_type"}
    assert CANONICAL_COLUMNS == [*LISTING_FIELDS, "sold_at", "sold_price"]
    assert (ATTRIBUTE_KINDS["year"], ATTRIBUTE_KINDS["mileage_km"], ATTRIBUTE_KINDS["fuel"]) == ("integer", "number", "text")


def test_feasts_request_schema_is_the_listing_date_and_the_cars_attributes():
    fields = {f.name: f.dtype for f in listing_request.schema}
    assert list(fields) == ["listed_at_epoch", *CAR_ATTRIBUTES] == REQUEST_FIELDS
    assert (fields["listed_at_epoch"], fields["year"], fields["mileage_km"], fields["brand"]) == (Float64, Int64, Float64, String)


def test_the_service_path_and_the_training_path_give_feature_inputs_the_same_columns():
    listing = Listing.model_validate(LISTING)
    served = feature_inputs(attribute_columns([listing]))
    trained = feature_inputs({c: pd.Series([LISTING[c]]) for c in ["listed_at", *CAR_ATTRIBUTES]})
    assert list(served) == list(trained) == [*ENTITY_KEYS, *REQUEST_FIELDS]
    assert served == trained  # enum members become their values, the date the same epoch seconds
    assert served["fuel"] == ["diesel"] and served["listed_at_epoch"] == [pd.Timestamp("2026-05-01T03:00Z").timestamp()]


def test_the_table_stores_every_attribute_as_declared():
    columns = {c.name: c for c in valuations.columns}
    for name in CAR_ATTRIBUTES:
        column = columns[STORED_AS.get(name, name)]
        assert column.nullable == (name not in REQUIRED_COLUMNS), name
    assert columns["brand"].type.length == Listing.model_fields["brand"].metadata[1].max_length == 64


def test_the_simulators_messages_are_listings(tmp_path):
    listing, _ = ListingFactory(Settings(home=tmp_path), seed=1).batch_with_outcomes(1)[0]
    assert list(listing) == MESSAGE_FIELDS + ["listed_at"]
    assert Listing.model_validate(listing).listing_id == listing["listing_id"]
