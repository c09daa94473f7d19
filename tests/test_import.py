"""Real CSVs onto the canonical schema, their quirks, and bad files that must write nothing."""

from __future__ import annotations

import pandas as pd
import pytest

from autovalue.parquet import read_parquet
from autovalue.schema import CANONICAL_COLUMNS
from market.importer import ImportFailed, import_csv


def test_vehicles_us_has_dates_and_drops_junk(real_data, tmp_path):
    report = import_csv(real_data / "vehicles_us.csv", "vehicles_us", tmp_path)
    frame = read_parquet(tmp_path / "vehicles_us.parquet")
    assert report.rows_read == 51_525 and report.has_listing_dates
    assert report.dropped["price below 500 USD (placeholder ads)"] > 0
    # Only what the schema requires drops a row: a missing odometer is kept, as missing.
    assert report.dropped["missing year"] > 0 and "missing mileage_km" not in report.dropped
    assert 0.1 < frame["mileage_km"].isna().mean() < 0.2
    assert frame["asking_price"].min() >= 500
    assert frame["listed_at"].between(pd.Timestamp("2018-05-01", tz="UTC"), pd.Timestamp("2019-04-30", tz="UTC")).all()
    bmw = frame[frame["listing_id"] == "vehicles_us-2"].iloc[0]
    assert (bmw["brand"], bmw["model"]) == ("Bmw", "X5")
    assert bmw["mileage_km"] == pytest.approx(145_000 * 1.609344)  # odometer is in miles


def test_cardekho_duplicates_removed_before_any_split(real_data, tmp_path):
    report = import_csv(real_data / "cardekho_car_details_v3.csv", "cardekho", tmp_path)
    frame = read_parquet(tmp_path / "cardekho.parquet")
    assert report.duplicates_removed == 1_202
    assert len(frame) == 8_128 - 1_202
    assert not report.has_listing_dates and frame["listed_at"].isna().all()
    assert set(frame["fuel"]) <= {"diesel", "petrol", "lpg"}


def test_indonesia_drops_the_leaking_instalment_and_scales_mileage(real_data, tmp_path):
    import_csv(real_data / "indonesia_used_car.csv", "indonesia_used_car", tmp_path)
    frame = read_parquet(tmp_path / "indonesia_used_car.parquet")
    assert list(frame.columns) == CANONICAL_COLUMNS  # no instalment column anywhere
    first = frame[frame["listing_id"] == "indonesia_used_car-2"].iloc[0]
    assert first["mileage_km"] == pytest.approx(10_508)
    assert first["asking_price"] == 101_000_000


def test_mobil123_keeps_only_real_prices(real_data, tmp_path):
    report = import_csv(real_data / "mobil123_clean.csv", "mobil123", tmp_path)
    source = pd.read_csv(real_data / "mobil123_clean.csv")
    frame = read_parquet(tmp_path / "mobil123.parquet")
    assert report.dropped["price imputed by the scraper"] == 492
    real_prices = set(source.loc[source["harga_imputed"] == False, "harga_asli"].dropna())  # noqa: E712
    assert set(frame["asking_price"]) <= real_prices


def _bad(tmp_path, text: bytes, name="bad.csv"):
    path = tmp_path / name
    path.write_bytes(text)
    return path


HEADER = b"price,model_year,model,condition,cylinders,fuel,odometer,transmission,type,paint_color,is_4wd,date_posted,days_listed\n"


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "the file is empty"),
        (b"price,model\n100,bmw x5\n", "missing column"),
        (HEADER + b"9400,2011,bmw x5,good,6,gas,lots,automatic,SUV,,1,6/23/18,19\n", "row 2: column 'odometer': cannot parse 'lots'"),
        (HEADER + b"9400,2011,bmw x5,good,6,gas,1000,automatic,SUV,,1,2018-06-23,19\n", "row 2: column 'date_posted'"),
        (HEADER + b"9400,2011,bmw x5,good,6,steam,1000,automatic,SUV,,1,6/23/18,19\n", "column 'fuel'"),
        (HEADER + "9400,2011,bmw x5,g\u00f6od,6,gas,1000,automatic,SUV,,1,6/23/18,19\n".encode("latin-1"), "row 2: not valid utf-8"),
    ],
    ids=["empty", "missing-column", "unparsable-number", "bad-date", "unknown-value", "wrong-encoding"],
)
def test_bad_csv_one_line_error_and_nothing_written(tmp_path, content, expected):
    path = _bad(tmp_path, content)
    raw = tmp_path / "raw"
    with pytest.raises(ImportFailed) as failure:
        import_csv(path, "vehicles_us", raw)
    message = str(failure.value)
    assert "\n" not in message and str(path) in message and expected in message
    assert not raw.exists() or not any(raw.iterdir())


def test_a_user_mapping_file_needs_no_code(tmp_path):
    mapping = tmp_path / "shop.yaml"
    mapping.write_text(
        "name: shop\ncurrency: IDR\ncolumns:\n"
        "  brand: {from: make}\n  model: {from: type}\n  year: {from: built, parse: int}\n"
        "  mileage_km: {from: km, parse: number}\n  asking_price: {from: price, parse: number, scale: 1000000}\n"
        "  listed_at: {from: posted, parse: date, format: '%Y-%m-%d'}\n"
    )
    csv = _bad(tmp_path, b"make,type,built,km,price,posted\nToyota,Avanza,2019,50000,180,2026-01-02\nHonda,Brio,,1,150,2026-01-03\n")
    report = import_csv(csv, str(mapping), tmp_path / "raw")
    frame = read_parquet(tmp_path / "raw" / "shop.parquet")
    assert report.rows_written == 1 and report.dropped["missing year"] == 1
    assert frame.iloc[0]["asking_price"] == 180_000_000 and report.has_listing_dates
