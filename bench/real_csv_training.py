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

from autovalue.settings import QUIET_LIBRARIES, Settings

for _name, _value in QUIET_LIBRARIES.items():  # before anything imports bentoml or mlflow
    os.environ.setdefault(_name, _value)

from feature_repo.pipeline import build_features  # noqa: E402
from market.importer import import_csv  # noqa: E402
from market.io import read_source  # noqa: E402
from training.dataset import build_dataset  # noqa: E402
from training.pipeline import train  # noqa: E402

SHARED_REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
RESULTS = Path(__file__).parent / "results" / "real_csv_training.json"
DATASETS = [("vehicles_us.csv", "vehicles_us", "time", "USD"),
            ("cardekho_car_details_v3.csv", "cardekho", "random", "INR"),
            ("indonesia_used_car.csv", "indonesia_used_car", "random", "IDR"),
            ("mobil123_clean.csv", "mobil123", "random", "IDR")]


def mapping_variants(mapping: str, home: Path) -> dict[str, str]:
    """The built-in mapping, and when it declares attributes the same mapping without them."""
    import yaml

    from market.importer import load_mapping

    declared = load_mapping(mapping)
    if not declared.get("attributes"):
        return {"schema columns": mapping}
    bare = home / f"{mapping}-without-attributes.yaml"
    bare.write_text(yaml.safe_dump({k: v for k, v in declared.items() if k != "attributes"}))
    return {"with attributes": mapping, "schema columns only": str(bare)}


def main() -> None:
    if not SHARED_REAL.is_dir():
        raise SystemExit(f"real CSVs not available: {SHARED_REAL} is absent")
    out = {}
    for file, mapping, split, currency in DATASETS:
        with tempfile.TemporaryDirectory() as scratch:
            variants = mapping_variants(mapping, Path(scratch))
        for variant, mapping_ref in variants.items():
          with tempfile.TemporaryDirectory() as home:
            variants = mapping_variants(mapping, Path(home))
            mapping_ref = variants[variant]
            settings = Settings(home=Path(home), market_source=mapping, market_currency=currency,
                                report_residual_features=["age_years", "odometer_km"])
            print("\n".join(import_csv(SHARED_REAL / file, mapping_ref, settings.raw_dir).lines()))
            build_features(settings, read_source(settings.raw_dir, mapping), progress=False, source=mapping)
            data = build_dataset(settings, mapping)
            key = f"{mapping} ({variant})"
            out[key] = {"split": split, "rows": len(data.frame), "features": data.features,
                        "currency": data.currency, "feature_service": data.feature_service}
            # Both ways XGBoost can take categoricals (AUTOVALUE_XGB_CATEGORICAL): CarDekho has
            # thousands of rare model names.
            for encoding in ("ordered_codes", "native"):
                run_settings = settings.model_copy(update={"xgb_categorical": encoding})
                result = train(run_settings, data, split=split, force_promote=True, progress=True)
                out[key][encoding] = {"metrics": result.metrics, "holdout": result.bundle.metadata["split"]}
                for name, m in result.metrics.items():
                    print(f"{key:<40} {encoding:<13} {name:<18} MAE {m['mae']:>12,.0f} {data.currency}  "
                          f"MAPE {m['mape']:6.2%}  R² {m['r2']:.3f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2, default=str))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
