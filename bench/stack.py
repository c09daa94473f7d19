"""What the benchmarks that run the stack share: free ports, a small market and champion in a
throw-away home, and settings of their own on a shared broker. The service process itself is
deploy.processes.ServerProcess (the test suite starts it too)."""

from __future__ import annotations

import socket
import uuid

from consumers.kafka_clients import ensure_topics
from autovalue.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_market(settings: Settings, listings: int = 20_000, seed: int = 11) -> None:
    """A simulated market ending today, its feature tables applied and materialized online."""
    from feature_repo.pipeline import build_features
    from market.generate import generate_market
    from market.io import read_source

    generate_market(settings.raw_dir, listings, seed=seed, end=settings.market_end(), days=240,
                    progress=False)
    build_features(settings, read_source(settings.raw_dir, "market"), progress=False)


def train_champion(settings: Settings) -> dict:
    """The real trainer on the market's point-in-time dataset; the champion's metadata."""
    from training.dataset import build_dataset
    from training.pipeline import train

    return train(settings, build_dataset(settings), progress=False).bundle.metadata


def isolated(settings: Settings) -> Settings:
    """The same broker and home, with topics, consumer groups and a database of their own."""
    tag = uuid.uuid4().hex[:8]
    own = settings.model_copy(update={
        "topic_listings": f"listings-{tag}", "topic_valuations": f"valuations-{tag}", "topic_dead_letters": f"dlq-{tag}",
        "topic_outcomes": f"outcomes-{tag}", "consumer_group": f"scorer-{tag}", "outcomes_consumer_group": f"outcomes-{tag}",
        "database_url": f"sqlite:///{settings.data_dir / f'valuations-{tag}.db'}"})
    ensure_topics(own)
    return own
