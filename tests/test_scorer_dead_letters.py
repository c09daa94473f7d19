"""Malformed messages go to the dead-letter topic and table with the reason; nothing crashes."""

from __future__ import annotations

import json

import pytest

from consumers.scorer import Scorer
from consumers.simulator import MALFORMED_KINDS, _malformed
from tests.streaming import isolated, produce, read_topic, table_ids

pytestmark = pytest.mark.slow

GOOD = {"listing_id": "x", "listed_at": "2026-05-01T10:00:00Z", "brand": "Toyota", "model": "Avanza",
        "year": 2020, "mileage_km": 50_000, "fuel": "petrol", "transmission": "manual", "body_type": "mpv",
        "region": "Bali", "seller_type": "dealer", "asking_price": 180e6}

EXPECTED_REASON = {
    "not_json": "not JSON", "not_utf8": "not JSON", "not_object": "not a JSON object",
    "missing_field": "brand: Field required", "negative_mileage": "mileage_km", "future_year": "year",
    "unknown_fuel": "fuel", "wrong_type": "year",
}


def test_malformed_corpus_is_dead_lettered_with_reasons(settings):
    settings = isolated(settings)
    corpus = [_malformed(kind, {**GOOD, "listing_id": f"bad-{i}-{kind}"}) for i in range(5) for kind in MALFORMED_KINDS]
    corpus += [b"", b"null", b"{}", json.dumps({**GOOD, "year": None}).encode()]
    # What json.loads raises beyond JSONDecodeError: too deep, and an integer over 4,300 digits.
    corpus += [b"[" * 3000 + b"]" * 3000, b'{"listing_id": "huge", "year": ' + b"9" * 5000 + b"}"]
    produce(settings, corpus)

    scorer = Scorer(settings)
    scorer.run(idle_exit_s=4)

    letters = read_topic(settings, settings.topic_dead_letters, expect=len(corpus))
    assert len(letters) == len(corpus)
    assert {(m["partition"], m["offset"]) for m in letters}.__len__() == len(corpus)
    for message in letters:
        assert message["reason"] and message["topic"] == settings.topic_listings
    by_id = {m["listing_id"]: m["reason"] for m in letters if m["listing_id"]}
    for kind in ["missing_field", "negative_mileage", "future_year", "unknown_fuel", "wrong_type"]:
        assert EXPECTED_REASON[kind] in by_id[f"bad-0-{kind}"], (kind, by_id[f"bad-0-{kind}"])
    valued, dead = table_ids(settings)
    assert valued == [] and len(dead) == len(corpus)
    # The original payload travels with the reason.
    assert any(letter["payload"].startswith('{"listing_id": "bad-0-not_json"') for letter in letters)


def test_a_huge_undecodable_message_is_dead_lettered_and_the_stream_goes_on(settings):
    import hashlib

    from tests.test_scorer import committed_offsets

    settings = isolated(settings)
    poison = b'{"listing_id": "' + b"\xff" * 200_000 + b'"}'  # 1.2 MB once each byte is escaped \ufffd
    produce(settings, [poison] + [b"null"] * 3)  # what follows it is read too (dead letters: no service here)
    Scorer(settings).run(idle_exit_s=4)

    letters = read_topic(settings, settings.topic_dead_letters, expect=4)
    [letter] = [m for m in letters if m["payload_bytes"] == len(poison)]
    assert letter["payload_sha256"] == hashlib.sha256(poison).hexdigest()
    assert letter["reason"].startswith("too large") and "bytes kept]" in letter["payload"]
    assert len(letters) == 4 and len(table_ids(settings)[1]) == 4
    assert sum(committed_offsets(settings).values()) == 4


def test_a_listing_just_under_a_megabyte_is_dead_lettered_as_the_service_would_refuse_it(settings):
    from autovalue.schema import too_large
    from tests.test_scorer import committed_offsets

    settings = isolated(settings)
    big = json.dumps({**GOOD, "listing_id": "big", "notes": "x" * 1_000_000}).encode()[:1_000_000 - 2] + b'"}'
    produce(settings, [big, b"null"])
    Scorer(settings).run(idle_exit_s=4)

    letters = {m["payload_bytes"]: m for m in read_topic(settings, settings.topic_dead_letters, expect=2)}
    assert len(big) < 1_048_576 and letters[len(big)]["reason"] == too_large(settings.listing_max_bytes)
    assert sum(committed_offsets(settings).values()) == 2
