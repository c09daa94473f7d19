"""Training data for the trainer's tests, from the real feature pipeline: a small simulated market,
its statistics written and the Feast repo applied (offline only: training reads no online store),
then the point-in-time dataset `autovalue train` reads (training.dataset.build_dataset)."""

from __future__ import annotations

from datetime import date

from autovalue.settings import Settings
from training.dataset import TrainingData

END = date(2025, 6, 30)  # a fixed calendar: the same data on every day the tests run


def market_training_data(settings: Settings, listings: int, seed: int, days: int = 365) -> TrainingData:
    from feature_repo.pipeline import build_features
    from market.generate import generate_market
    from market.io import read_source
    from training.dataset import build_dataset

    generate_market(settings.raw_dir, listings, seed, END, days, progress=False)
    build_features(settings, read_source(settings.raw_dir, settings.market_source), progress=False, online=False)
    return build_dataset(settings)
