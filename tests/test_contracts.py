"""Core contracts: the listing schema's validation and the deal-rating bands."""

from __future__ import annotations

import math


import pytest
from pydantic import ValidationError

from autovalue.keys import model_key
from autovalue.schema import Listing
from autovalue.settings import Settings
from autovalue.valuation import DealRating, deal_rating

GOOD = {"listing_id": "a1", "listed_at": "2026-05-01T10:00:00Z", "brand": "Toyota", "model": " Avanza ",
        "year": 2020, "mileage_km": 50_000, "fuel": "petrol", "transmission": "manual",
        "body_type": "mpv", "region": "Bali", "seller_type": "dealer", "asking_price": 180e6}


def test_a_valid_listing_and_its_key():
    listing = Listing.model_validate(GOOD)
    assert listing.model_key == "toyota|avanza" == model_key("TOYOTA", "avanza")
    assert listing.listed_at.tzinfo is not None


@pytest.mark.parametrize("field, value", [
    ("mileage_km", -1), ("year", 1949), ("year", 2028), ("fuel", "steam"), ("asking_price", 0),
    ("listing_id", ""), ("year", "twenty"), ("mileage_km", float("nan")), ("asking_price", float("inf")),
])
def test_invalid_listing_names_the_field(field, value):
    with pytest.raises(ValidationError) as error:
        Listing.model_validate({**GOOD, field: value})
    assert field in str(error.value)


def test_missing_field_is_named():
    with pytest.raises(ValidationError) as error:
        Listing.model_validate({k: v for k, v in GOOD.items() if k != "brand"})
    assert "brand" in str(error.value)


@pytest.mark.parametrize("asking, rating", [
    (70, DealRating.great), (85, DealRating.good), (100, DealRating.fair), (112, DealRating.high), (130, DealRating.overpriced),
])
def test_deal_rating_bands(asking, rating):
    # Bands are log offsets of asking / estimate: here 0.8, 0.9, 1.1 and 1.2 times the estimate.
    bands = [math.log(0.8), math.log(0.9), math.log(1.1), math.log(1.2)]
    assert deal_rating(asking, predicted=100, bands=bands) == rating


def test_settings_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOVALUE_TOPIC_PARTITIONS", "6")
    monkeypatch.setenv("AUTOVALUE_HOME", str(tmp_path))
    settings = Settings()
    assert settings.topic_partitions == 6 and settings.raw_dir == tmp_path / "data" / "raw"
    assert settings.database.startswith("sqlite:///") and settings.kafka_host_port[1] == 19092


def test_scorer_batches_never_exceed_what_the_service_accepts():
    assert Settings(scorer_batch_size=1000, max_batch_size=50).scorer_batch == 50
    assert Settings(scorer_batch_size=200, max_batch_size=1000).scorer_batch == 200


def test_the_core_imports_no_part():
    """autovalue/ holds the shared contracts: a part's module imported there (even lazily, inside a
    function) would make every part depend on that part."""
    import ast
    from pathlib import Path

    parts = {"app", "bento", "broker", "consumers", "feature_repo", "market", "training", "autovalue_cli", "bench",
             "tests"}
    found = []
    for path in sorted((Path(__file__).parents[1] / "autovalue").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}: {name}" for name in names if name.split(".")[0] in parts]
    assert found == []
