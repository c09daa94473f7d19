"""The production configuration end to end, for real: Feast on Redis with its registry in
PostgreSQL, MLflow on PostgreSQL, the valuations table in PostgreSQL — with tansu standing in
for Apache Kafka. The settings are the ones docker-compose.yml passes (see .env.example)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid

import psycopg
import pytest

from deploy.processes import ServerProcess, serve_command, settings_environment, stop_process_group
from autovalue.settings import Settings
from tests.conftest import free_port
from tests.service_support import REPO, build_market
from tests.streaming import isolated, table_ids

pytestmark = [pytest.mark.production, pytest.mark.slow]
ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def production_database():
    name = f"autovalue_e2e_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(ADMIN, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is required for the production test: {error}")
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(ADMIN, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_the_compose_database_urls_take_the_password_from_pgpassword(monkeypatch):
    """.env.example's URLs carry no password: compose passes it once, as PGPASSWORD, which libpq reads
    for every PostgreSQL client here (the tables, Feast's registry, MLflow)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from tests.test_compose import _env_example

    for name in ("AUTOVALUE_DATABASE_URL", "AUTOVALUE_FEAST_REGISTRY_URL"):
        url = make_url(_env_example()[name])
        assert url.drivername == "postgresql+psycopg" and url.password is None, name
    monkeypatch.setenv("PGPASSWORD", "given-once")
    here = make_url(_env_example()["AUTOVALUE_DATABASE_URL"]).set(host="127.0.0.1", username="postgres", database="test")
    engine = create_engine(here)
    try:
        with engine.connect() as connection:
            assert connection.connection.dbapi_connection.info.password == "given-once"
    finally:
        engine.dispose()


def test_pipeline_with_the_production_settings(tmp_path, kafka_bootstrap, production_database):
    from feature_repo.config import feature_store
    from training.dataset import build_dataset
    from training.pipeline import train

    tag = uuid.uuid4().hex[:8]
    settings = isolated(Settings(
        home=tmp_path, kafka_bootstrap=kafka_bootstrap, mode="production", api_key=f"key-{tag}",
        feast_mode="production", feast_project=f"e2e_{tag}",
        feast_registry_url=production_database, feast_redis="127.0.0.1:6379,db=0",
        mlflow_tracking_uri=production_database, xgb_max_rounds=150, rf_trees=10, market_push_interval_s=1.0,
    ), database_url=production_database)
    build_market(settings)
    store = feature_store(settings)
    assert type(store._get_provider().online_store).__name__ == "RedisOnlineStore"
    result = train(settings, build_dataset(settings, store=store), progress=False)
    assert result.decision.promote and (settings.models_dir / "champion.json").exists()
    with psycopg.connect(production_database.replace("+psycopg", "")) as connection:
        assert connection.execute("SELECT count(*) FROM model_versions").fetchone()[0] == 1  # MLflow's table

    port = free_port()
    settings = settings.model_copy(update={"service_url": f"http://127.0.0.1:{port}", "service_port": port})
    server = ServerProcess(serve_command(port), settings_environment(settings), port, tmp_path / "service.log").start()
    scorer = feed = None
    try:
        from consumers.simulator import simulate

        def start(command: str) -> subprocess.Popen:
            return subprocess.Popen([sys.executable, "-m", "autovalue_cli.main", command], cwd=REPO,
                                    env=settings_environment(settings), stdout=open(tmp_path / f"{command}.log", "wb"),
                                    stderr=subprocess.STDOUT, start_new_session=True)

        scorer, feed = start("score"), start("market-feed")
        counts = simulate(settings, rate=200, duration_s=3, bad_share=0.05, seed=4).listings
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            valued, dead = table_ids(settings)
            if len(valued) + len(dead) >= sum(counts.values()):
                break
            time.sleep(0.5)
        while time.monotonic() < deadline and "market feed: reading" not in (tmp_path / "market-feed.log").read_text():
            time.sleep(0.5)  # the feed starts with Feast's slow import: let it read the stream
        time.sleep(3 * settings.market_push_interval_s)
    finally:
        for process in (scorer, feed):
            if process is not None and process.poll() is None:
                stop_process_group(process)
        server.stop()
        feature_store(settings).teardown()
    valued, dead = table_ids(settings)
    assert len(valued) == len(set(valued)) == counts["valid"]
    assert len(dead) == sum(counts.values()) - counts["valid"]
    # The market feed read the same stream and pushed its statistics into Redis.
    log = (tmp_path / "market-feed.log").read_text(errors="replace")
    feed_done = re.search(r"market feed stopped after (\d+) listings and (\d+) pushed rows", log)
    assert feed_done and int(feed_done.group(1)) == counts["valid"] and int(feed_done.group(2)) > 0, log[-2000:]
    assert "market push failed" not in log
