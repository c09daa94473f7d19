"""One settings object for the whole system, read from AUTOVALUE_* environment variables.

Embedded defaults run everything on one machine (tansu broker, SQLite, local files);
production overrides point the same code at Apache Kafka, PostgreSQL, Redis and MLflow.
Nothing is read or created at import time: call `get_settings()`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, computed_field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# What the libraries read from the environment to stay quiet: no usage telemetry (there is no
# network here, and production wants none), and no OpenTelemetry span kept per request. Every
# process that imports BentoML, MLflow or Streamlit gets these (Settings.library_environment);
# the Makefile, the Dockerfile and bentofile.yaml repeat them for the processes started without
# us (tests/test_compose.py checks they agree). DO_NOT_TRACK is the shared convention MLflow
# also honours.
QUIET_LIBRARIES = {"BENTOML_DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
                   "OTEL_SDK_DISABLED": "true", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}


class Settings(BaseSettings):
    # No .env file is read: docker compose passes its .env as environment, and a developer's
    # compose .env must not silently point the local tools at production.
    model_config = SettingsConfigDict(env_prefix="AUTOVALUE_", extra="ignore")

    # Where the project keeps its generated files; everything else defaults below it.
    home: Path = Field(default_factory=Path.cwd)
    # "production" makes the valuation service refuse to start without an API key.
    mode: Literal["embedded", "production"] = "embedded"

    # Market
    market_currency: str | None = None  # unset: the market's own (its metadata), IDR when simulated
    market_seed: int = 42
    market_listings: int = 200_000
    market_days: int = 730
    # The simulated market's history ends this many days before the day it is generated: the
    # stream that continues it is dated on the market's own calendar (market_days_per_minute days
    # a real minute), so it has that many market days before it would reach today, from where it
    # goes on in real time (a listing is never dated in the future).
    market_lead_days: int = Field(default=365, ge=0)

    # Listing validation (autovalue.schema.Listing, read through get_settings()). An asking price
    # outside [min, max] is refused; an unset bound is the market currency's default
    # (schema.PLAUSIBLE_ASKING_PRICE). A listing dated further ahead than the skew is refused.
    asking_price_min: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    asking_price_max: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    listing_clock_skew_s: float = Field(default=300.0, ge=0, allow_inf_nan=False)

    # Kafka (tansu embedded, Apache Kafka in production)
    kafka_bootstrap: str = "127.0.0.1:19092"
    topic_listings: str = "listings"
    topic_valuations: str = "valuations"
    topic_dead_letters: str = "listings.dlq"  # bad listings, and bad outcome messages
    topic_outcomes: str = "outcomes"  # what became of each listing: sold or withdrawn
    topic_partitions: int = Field(default=3, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)  # 1: one broker (tansu, the compose file)
    # tansu needs about half the session timeout to finish a group join: keep it short.
    kafka_session_timeout_ms: int = 6000
    kafka_heartbeat_interval_ms: int = 1000
    # tansu's memory store finds a fetch's first batch by a scan that grows with the partition's
    # batch count and answers empty once that scan outlasts the fetch wait; a longer wait costs
    # freshness (depths and latencies per wait: bench/README.md). A scorer that stalls with lag
    # rejoins with its wait doubled (consumers/liveness.py), up to the cap.
    kafka_fetch_max_wait_ms: int = 50
    kafka_fetch_max_wait_cap_ms: int = 2000
    kafka_max_poll_interval_ms: int = 60_000
    kafka_bootstrap_timeout_ms: int = 30_000  # a consumer waits this long for a broker at start
    # The scorer flushes its producer once per batch: a long linger and large batches turn a
    # batch's valuations into a few produce requests (kafka-python's defaults: many small ones).
    scorer_producer_linger_ms: int = 100
    scorer_producer_batch_bytes: int = 1_048_576
    # A batch allocates tens of thousands of objects: collect the young generation per this many
    # allocations rather than Python's 700 (faster and cheaper per listing: bench/README.md).
    scorer_gc_young_threshold: int = 50_000
    consumer_group: str = "autovalue-scorer"

    # The simulated market's clock (`autovalue simulate`): simulated days per real minute. One
    # clock for the market's moves and for outcomes, so both run on the same simulated calendar
    # (10: the median sale, ~15 days, after ~1.5 min; 90% of sales within 5 min). It was
    # outcome_days_per_minute when only outcomes ran on it.
    market_days_per_minute: float = Field(default=10.0, gt=0)
    # `autovalue simulate --scenario` (market/scenarios.py): "none" (the moving market alone),
    # "shock" (simulate_shock_segment re-prices -15% over 14 simulated days) or "launch" (a new
    # car model enters) or "shock+launch" (both), starting simulate_scenario_day simulated days after the stream starts
    # (7: a whole week of the moved market before it, for a per-week benchmark to compare).
    simulate_scenario: Literal["none", "shock", "launch", "shock+launch"] = "none"
    simulate_shock_segment: str = "suv"
    simulate_scenario_day: float = Field(default=7.0, ge=0)
    # `autovalue outcomes`: its own consumer group on the outcomes topic, one transaction per poll.
    outcomes_consumer_group: str = "autovalue-outcomes"
    outcomes_batch_size: int = 1000
    outcomes_poll_ms: int = 500
    # When no outcome arrives, stored outcomes still waiting for their valuation are joined this often.
    outcomes_join_interval_s: float = 5.0

    # Database holding the valuations table
    database_url: str | None = None

    # Feast: the feature service is the one contract between training and serving.
    feature_service: str = "valuation_v1"
    market_source: str = "market"  # which data/raw/<source>.parquet feeds the features
    feast_mode: Literal["embedded", "production"] = "embedded"
    feast_registry_url: str | None = None
    feast_redis: str = "127.0.0.1:6379,db=0"
    feast_project: str = "autovalue"

    # MLflow
    mlflow_tracking_uri: str | None = None
    mlflow_model_name: str = "autovalue-price"

    # Model export and the BentoML model store (kept inside the project unless set).
    bentoml_home: Path | None = None
    bento_model_name: str = "autovalue-price"

    # BentoML valuation service
    service_url: str = "http://127.0.0.1:3000"
    # Loopback unless set: the service and the dashboard are reachable from this machine only.
    service_host: str = "127.0.0.1"
    service_port: int = 3000
    api_key: str | None = None
    # BentoML's access log writes a line per request (~15 MB an hour at the scorer's rate).
    service_access_log: bool = False
    max_batch_size: int = 1000
    # Which model the service loads: "champion" (models/champion.json), a version, or "latest".
    bento_model_version: str = "champion"
    # With "champion", each worker looks at models/champion.json this often (0: never) and rolls
    # a newly promoted model out without a restart, all workers at promotion + the settle time
    # (enough for every worker to have seen and loaded it: bento/rollout.py).
    service_champion_poll_s: float = Field(default=2.0, ge=0)
    service_champion_settle_s: float = Field(default=10.0, ge=0)
    # Score the champion the last promotion replaced in shadow: each valuation carries its price
    # (shadow_price), so live accuracy shows next to what the old model would have scored.
    service_shadow: bool = True
    service_workers: int = 2  # one per core here (the p99 with one and two: bench/README.md)
    # BentoML adaptive batching of /valuate_batch: listings merged into one model call, and the
    # queueing time after which BentoML answers 503 (callers retry later).
    service_batching_max_size: int = 2000
    service_batching_max_latency_ms: int = 5000
    service_max_body_bytes: int = 4_000_000  # a full max_batch_size batch is ~0.3 MB
    service_value_drivers: int = 3  # top value drivers returned per valuation
    # XGBoost threads for a batch of at least service_threads_from_rows listings (a 500-listing
    # batch's contributions take less than half the time on two: bench/README.md); smaller
    # batches and single valuations stay on one thread, where starting threads costs more.
    service_batch_threads: int = 2
    service_threads_from_rows: int = 64
    # How long the service reuses a car model's online market row (0: read Feast every time).
    # The market feed pushes new statistics every market_push_interval_s; a second more is harmless.
    service_feature_cache_s: float = 1.0
    # Market statistics older than this lower a valuation's confidence to medium. Batch rows are
    # stamped each midnight (up to a day old in training too); pushed rows are seconds old.
    confidence_market_stale_s: float = 30 * 3600

    # Streaming scorer micro-batches; the service is retried with backoff while unreachable.
    # 1000 (the service's max_batch_size) drains a backlog faster than 500 (bench/README.md): fewer
    # requests, commits and flushes per listing; at a steady rate batches stay small anyway.
    scorer_batch_size: int = 1000
    scorer_batch_ms: int = 50
    # Liveness: with lag and no progress for scorer_stall_s (or no partitions while its group
    # has lag and no member holds any), the scorer recovers, and exits non-zero when that fails
    # twice. Its lag is measured, and its heartbeat row written, every scorer_lag_interval_s.
    scorer_stall_s: float = Field(default=30.0, gt=0)
    scorer_lag_interval_s: float = Field(default=5.0, gt=0)
    # Bytes of a dead letter's payload kept (the whole record's length and sha256 always are).
    # JSON escapes a byte to at most 6 (\ufffd for an invalid one): 16 KiB stays far below
    # the producer's 1 MiB max_request_size.
    dead_letter_payload_bytes: int = Field(default=16_384, gt=0, le=131_072)
    service_timeout_s: float = 10.0
    service_backoff_max_s: float = 2.0
    market_push_interval_s: float = 5.0

    # Streamlit dashboard
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8501

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    # Training (`autovalue train`): time split = train | calibration | holdout, oldest to newest.
    mlflow_experiment: str = "autovalue"
    train_seed: int = 42
    train_holdout_fraction: float = 0.15
    train_calibration_fraction: float = 0.15  # conformal calibration of the price interval
    train_early_stopping_fraction: float = 0.1  # newest slice of the training part
    train_interval_coverage: float = 0.8
    train_threads: int = 2
    # Share of training rows learnt again without their model's market statistics, and again as
    # an unseen car (training.calibration.with_unfamiliar_rows): how the trees learn to value a
    # car with a thin market or none.
    train_unfamiliar_fraction: float = 0.1
    # A row's training weight halves every this many days of age before the newest row (None:
    # all rows alike). `autovalue retrain` learns from a long history and a short stream.
    train_recency_half_life_days: float | None = Field(default=None, gt=0)
    xgb_max_rounds: int = 2000
    xgb_early_stopping_rounds: int = 50
    xgb_learning_rate: float = 0.1  # 0.05 gave the same MAPE in twice the rounds (bench/README.md, training)
    xgb_max_depth: int = 6
    xgb_min_child_weight: float = 20.0
    xgb_subsample: float = 0.8
    xgb_colsample_bytree: float = 0.8
    # "ordered_codes" (levels as numbers ordered by mean price: fast at scale) or "native"
    # (XGBoost's categorical splits: better for thousands of rare levels without market data).
    xgb_categorical: Literal["ordered_codes", "native"] = "ordered_codes"
    rf_trees: int = 60
    rf_min_samples_leaf: int = 3
    rf_max_rows: int = 100_000  # the forest fits on a seeded sample above this (its cost grows fastest)
    report_residual_features: list[str] = ["age_years", "odometer_km"]

    # The closed loop (`autovalue history`, `autovalue retrain`). A streamed listing without an
    # outcome counts as unsold once it is this many market days older than the newest listing
    # valued (the simulator withdraws the unsold after a mean 45 days: e^-4, 1.8%, are still
    # listed at 180); younger, it is still on the market and left out.
    history_withdrawal_horizon_days: float = Field(default=180.0, gt=0)
    # Fewer landed sales than this and `autovalue retrain` does not train (exit 2): the judged
    # share of them must be large enough for a MAPE to tell two models apart.
    retrain_min_outcomes: int = Field(default=500, ge=1)
    # The newest share of the streamed sales that judges a retrain's challenger (its holdout):
    # it learns from every sale before them, the older stream included. A holdout of the newest
    # 15% of all rows (training's) held out the whole stream: the challenger never learnt from it.
    retrain_judged_share: float = Field(default=0.25, gt=0, lt=1)
    # `autovalue retrain --every-days` (the demo's and compose's retrain service): market days
    # between retrains, on the market's clock (AUTOVALUE_MARKET_DAYS_PER_MINUTE).
    retrain_every_days: float = Field(default=30.0, gt=0)

    @field_validator("api_key", "database_url", "feast_registry_url", "mlflow_tracking_uri", "bentoml_home",
                     "asking_price_min", "asking_price_max", mode="before")
    @classmethod
    def _empty_is_unset(cls, value):
        return None if value == "" else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value):
        return value.upper() if isinstance(value, str) else value

    def market_end(self) -> date:
        """The last day of a simulated market generated today (market_lead_days before it)."""
        return datetime.now(timezone.utc).date() - timedelta(days=self.market_lead_days)

    @computed_field
    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @computed_field
    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @computed_field
    @property
    def processed_dir(self) -> Path:
        return self.data_dir / "processed"

    @computed_field
    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def scorer_batch(self) -> int:
        """Listings per scorer micro-batch: never more than the service takes in one request."""
        return min(self.scorer_batch_size, self.max_batch_size)

    @property
    def listing_max_bytes(self) -> int:
        """The largest listing either door takes: its share of a full batch's body limit. The
        service refuses a larger /valuate body (413), the scorer dead-letters a larger message
        (same words: schema.too_large), and a batch of such listings always fits one request."""
        return self.service_max_body_bytes // self.max_batch_size

    @property
    def bentoml_store(self) -> Path:
        return self.bentoml_home or self.data_dir / "bentoml"

    def library_environment(self) -> dict[str, str]:
        """The libraries' own environment for these settings: quiet, and BentoML's model store
        (BENTOML_HOME, read once when bentoml is first imported) inside the project."""
        return {**QUIET_LIBRARIES, "BENTOML_HOME": str(self.bentoml_store)}

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'autovalue.db'}"

    @property
    def mlflow_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def kafka_host_port(self) -> tuple[str, int]:
        first = self.kafka_bootstrap.split(",")[0]
        host, _, port = first.rpartition(":")
        return host or "127.0.0.1", int(port)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
