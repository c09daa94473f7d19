"""Commands of the Feast part: build and serve the market features, write training datasets."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from autovalue.settings import Settings, get_settings
from autovalue_cli.common import CommandError, add_command


def require_source(settings: Settings, source: str) -> str:
    """The market source must exist before anything slow starts."""
    from market.io import table_path

    path = table_path(settings.raw_dir, source)
    if not path.is_file():
        raise CommandError(f"no market source {source!r}: {path} does not exist "
                           "(`autovalue generate` or `autovalue import` writes one)")
    return source


def training_data(settings: Settings, source: str):
    """The source's point-in-time dataset; a market without its feature service is one line."""
    from training.dataset import FeatureServiceMissing, build_dataset

    try:
        return build_dataset(settings, require_source(settings, source))
    except FeatureServiceMissing as error:
        raise CommandError(str(error)) from None


def cmd_features(args: argparse.Namespace) -> int:
    from feature_repo.config import write_feature_store_yaml
    from feature_repo.pipeline import build_features
    from market.io import read_source

    settings = get_settings()
    source = require_source(settings, args.source)
    started = time.perf_counter()
    counts = build_features(settings, read_source(settings.raw_dir, source), progress=not args.quiet, source=source)
    write_feature_store_yaml(settings)
    if not counts:
        print(f"{source} has no listing dates: no market statistics; the feature repo is applied "
              f"({settings.feast_mode}) for its request-time features (train with --split random)")
        return 0
    rows = ", ".join(f"{level} {count:,}" for level, count in counts.items())
    print(f"features from {source}: {rows} rows; applied ({settings.feast_mode}) and materialized "
          f"in {time.perf_counter() - started:.1f} s")
    return 0


def cmd_dataset(args: argparse.Namespace) -> int:
    from training.dataset_files import save_dataset

    settings = get_settings()
    started = time.perf_counter()
    data = training_data(settings, args.source)
    save_dataset(data, args.out)
    print(f"wrote {len(data.frame):,} rows x {len(data.features)} features of "
          f"{data.feature_service} to {args.out} in {time.perf_counter() - started:.1f} s")
    return 0


def cmd_feast_config(args: argparse.Namespace) -> int:
    from feature_repo.config import feast_cli_command, write_feature_store_yaml

    settings = get_settings()
    path = write_feature_store_yaml(settings, args.out)
    print(f"wrote {path}; for the Feast CLI run: {feast_cli_command(settings, path)}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    settings = get_settings()
    p = add_command(commands, "features", "build market feature tables, feast apply, materialize",
                    "Build the market feature tables from data/raw/<source>.parquet into data/processed/, "
                    "apply the Feast repo and materialize the online store.")
    p.add_argument("--source", default=settings.market_source, help="data/raw/<source>.parquet to build from")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_features)

    p = add_command(commands, "feast-config", "write feature_store.yaml for the Feast CLI from the settings",
                    "Write the Feast configuration the code uses (registry, online and offline store) as a "
                    "feature_store.yaml, by default in the data folder, and print the `feast` command that reads it.")
    p.add_argument("--out", type=Path, help="where to write it (default: <AUTOVALUE_HOME>/data/feature_store.yaml)")
    p.set_defaults(func=cmd_feast_config)

    p = add_command(commands, "dataset", "write a point-in-time-correct training dataset",
                    "Write the point-in-time-correct training dataset of the feature service as one parquet "
                    "file (features and lineage in its metadata); `autovalue train --dataset` reads it.")
    p.add_argument("--out", required=True, type=Path, help="FILE.parquet to write")
    p.add_argument("--source", default=settings.market_source, help="data/raw/<source>.parquet to build from")
    p.set_defaults(func=cmd_dataset)
