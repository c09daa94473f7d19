"""Training on the real CSVs: `python -m bench.real_csv_training` (figures for the README).

Each CSV goes through the project's importer (`autovalue import FILE --mapping NAME`), then a
TrainingData is built from the imported rows with listing attributes only — brand, model, year,
mileage, fuel, transmission, body type, seller type (where the mapping has them), plus age and
km per year for dated data — and label = asking price. No market features: these files are
single snapshots, too small and short for per-model rolling medians. Then the regular
`train()` pipeline runs: `vehicles_us` with the time split, `cardekho` (deduplicated by the
importer) with the seeded random split. Writes bench/results/real_csv_training.json.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from autovalue.keys import model_key  # noqa: E402
from autovalue.settings import Settings  # noqa: E402
from market.importer import import_csv  # noqa: E402
from market.io import read_meta, read_source  # noqa: E402
from training.dataset import TrainingData  # noqa: E402
from training.pipeline import train  # noqa: E402

SHARED_REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
RESULTS = Path(__file__).parent / "results" / "real_csv_training.json"
DATASETS = [("vehicles_us.csv", "vehicles_us", "time"), ("cardekho_car_details_v3.csv", "cardekho", "random")]
CATEGORICAL = ["brand", "model", "fuel", "transmission", "body_type", "seller_type", "region"]


def listing_training_data(raw_dir: Path, source: str) -> TrainingData:
    rows, meta = read_source(raw_dir, source), read_meta(raw_dir, source)
    dated = bool(meta.get("has_listing_dates"))
    frame = pd.DataFrame({
        "listing_id": rows["listing_id"], "model_key": [model_key(b, m) for b, m in zip(rows["brand"], rows["model"])],
        "event_timestamp": pd.to_datetime(rows["listed_at"], utc=True), "label": rows["asking_price"],
        "year": rows["year"].astype(float), "mileage_km": rows["mileage_km"],
    })
    numeric = ["year", "mileage_km"]
    if dated:
        listed = frame["event_timestamp"]
        frame["age_years"] = np.maximum(listed.dt.year + (listed.dt.dayofyear - 182) / 365.25 - frame["year"], 0.1)
        frame["km_per_year"] = frame["mileage_km"] / frame["age_years"]
        numeric += ["age_years", "km_per_year"]
    # A column the mapping fills with one constant value carries nothing: leave it out.
    categorical = [c for c in CATEGORICAL if rows[c].nunique(dropna=True) > 1]
    for name in categorical:
        frame[name] = rows[name].astype(object).where(rows[name].notna(), None)
    return TrainingData(frame=frame, features=numeric + categorical, categorical=categorical,
                        feature_service="listing_attributes_v1", source=source, has_dates=dated,
                        currency=meta.get("currency") or "")


def main() -> None:
    if not SHARED_REAL.is_dir():
        raise SystemExit(f"real CSVs not available: {SHARED_REAL} is absent")
    out = {}
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), report_residual_features=["age_years", "mileage_km", "year"])
        for file, mapping, split in DATASETS:
            print("\n".join(import_csv(SHARED_REAL / file, mapping, settings.raw_dir).lines()))
            data = listing_training_data(settings.raw_dir, mapping)
            out[mapping] = {"split": split, "rows": len(data.frame), "features": data.features,
                            "currency": data.currency}
            # Both ways XGBoost can take categoricals (AUTOVALUE_XGB_CATEGORICAL): these files have
            # no market features and, for CarDekho, thousands of rare model names.
            for encoding in ("ordered_codes", "native"):
                run_settings = settings.model_copy(update={"xgb_categorical": encoding})
                result = train(run_settings, data, split=split, force_promote=True, progress=True)
                out[mapping][encoding] = {"metrics": result.metrics, "holdout": result.bundle.metadata["split"]}
                for name, m in result.metrics.items():
                    print(f"{mapping:<12} {encoding:<13} {name:<18} MAE {m['mae']:>12,.0f} {data.currency}  "
                          f"MAPE {m['mape']:6.2%}  R² {m['r2']:.3f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2, default=str))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
