"""`autovalue generate`: write the simulated market to data/raw/market.parquet."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
from tqdm import tqdm

from market.io import write_source
from market.simulator import CONDITION_SIGMA, NEGOTIATION_SIGMA, MarketSimulator

SOURCE = "market"
CHUNK_ROWS = 100_000


def generate_market(raw_dir: Path, listings: int, seed: int, end: date, days: int,
                    progress: bool = True) -> dict:
    """Generate, write and return the metadata (with the noise floor a perfect model gets)."""
    simulator = MarketSimulator(seed=seed, end=end, days=days)
    meta = {
        "source": SOURCE,
        "kind": "simulated",
        "market": "Indonesia",
        "currency": "IDR",
        "has_listing_dates": True,
        "seed": seed,
        "start": simulator.start.isoformat(),
        "end": end.isoformat(),
        "generated_at": datetime.now(timezone.utc).isoformat(),
        "noise_sigma": float(np.hypot(CONDITION_SIGMA, NEGOTIATION_SIGMA)),
    }

    def chunks():
        error_sum, sold_count = 0.0, 0
        with tqdm(total=listings, unit="listings", desc="generate", disable=not progress) as bar:
            for index, first in enumerate(range(0, listings, CHUNK_ROWS)):
                n = min(CHUNK_ROWS, listings - first)
                frame = simulator.listings(n, np.random.default_rng([seed, 2, index]), id_offset=first)
                sold = frame[frame["sold_price"].notna()]
                error_sum += float(((sold["sold_price"] - sold["true_value"]).abs() / sold["sold_price"]).sum())
                sold_count += len(sold)
                bar.update(n)
                yield frame.sort_values("listed_at", kind="stable")
        # Read by write_source only after the last chunk, just before it writes the metadata.
        meta.update(listings=listings, sold=sold_count,
                    noise_floor_mape=error_sum / sold_count if sold_count else None)

    meta["path"] = str(write_source(raw_dir, SOURCE, chunks(), meta))
    return meta
