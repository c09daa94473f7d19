"""Commands of the Feast part: build and serve the market features, write training datasets."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from autovalue.settings import get_settings


def cmd_features(args: argparse.Namespace) -> int:
    from feature_repo.config import write_feature_store_yaml
    from feature_repo.pipeline import build_features
    from market.io import read_source

    settings = get_settings()
    source = args.source or settings.market_source
    started = time.perf_counter()
    counts = build_features(settings, read_source(settings.raw_dir, source), progress=not args.quiet)
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
    from training.dataset import build_dataset
    from training.dataset_files import save_dataset

    settings = get_settings()
    started = time.perf_counter()
    data = build_dataset(settings, args.source)
    save_dataset(data, args.out)
    print(f"wrote {len(data.frame):,} rows x {len(data.features)} features of "
          f"{data.feature_service} to {args.out} in {time.perf_counter() - started:.1f} s")
    return 0


def cmd_feast_config(args: argparse.Namespace) -> int:
    from feature_repo.config import write_feature_store_yaml

    print(f"wrote {write_feature_store_yaml(get_settings())} (for `feast plan` / `feast apply` in feature_repo/)")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("features", help="build market feature tables, feast apply, materialize")
    p.add_argument("--source", help="data/raw/<source>.parquet (default: the settings' market source)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_features)

    p = commands.add_parser("feast-config", help="write feature_repo/feature_store.yaml from the settings")
    p.set_defaults(func=cmd_feast_config)

    p = commands.add_parser("dataset", help="write a point-in-time-correct training dataset")
    p.add_argument("--out", required=True, type=Path,
                   help="FILE.parquet (features and lineage in its metadata; `autovalue train --dataset` reads it)")
    p.add_argument("--source", help="data/raw/<source>.parquet (default: the settings' market source)")
    p.set_defaults(func=cmd_dataset)
