"""Training on the real CSVs: `python -m bench.real_csv_training` (figures for the README).

Each CSV goes the way a marketplace's own file goes: the project's importer (`autovalue import
FILE --mapping NAME`), the feature pipeline (`autovalue features --source NAME`: market
statistics of a dated file, the repo alone for an undated one), the point-in-time dataset through
the feature service (`build_dataset`), and the regular `train()`: `vehicles_us` with the time
split, `cardekho` (deduplicated by the importer) with the seeded random split. The label is the
asking price (these files have no sales). The models it writes can be served as they are.
Writes bench/results/real_csv_training.json.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")

from autovalue.settings import Settings  # noqa: E402
from feature_repo.pipeline import build_features  # noqa: E402
from market.importer import import_csv  # noqa: E402
from market.io import read_source  # noqa: E402
from training.dataset import build_dataset  # noqa: E402
from training.pipeline import train  # noqa: E402

SHARED_REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
RESULTS = Path(__file__).parent / "results" / "real_csv_training.json"
DATASETS = [("vehicles_us.csv", "vehicles_us", "time", "USD"),
            ("cardekho_car_details_v3.csv", "cardekho", "random", "INR")]


def main() -> None:
    if not SHARED_REAL.is_dir():
        raise SystemExit(f"real CSVs not available: {SHARED_REAL} is absent")
    out = {}
    for file, mapping, split, currency in DATASETS:
        with tempfile.TemporaryDirectory() as home:
            settings = Settings(home=Path(home), market_source=mapping, market_currency=currency,
                                report_residual_features=["age_years", "odometer_km"])
            print("\n".join(import_csv(SHARED_REAL / file, mapping, settings.raw_dir).lines()))
            build_features(settings, read_source(settings.raw_dir, mapping), progress=False)
            data = build_dataset(settings, mapping)
            out[mapping] = {"split": split, "rows": len(data.frame), "features": data.features,
                            "currency": data.currency}
            # Both ways XGBoost can take categoricals (AUTOVALUE_XGB_CATEGORICAL): CarDekho has
            # thousands of rare model names.
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
