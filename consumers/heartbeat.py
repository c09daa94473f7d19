"""The scorer's heartbeat row (table scorer_heartbeats): its partitions, lag and last progress,
upserted by a thread of its own every few seconds, so a locked or slow database never holds
up the polling thread, and the row keeps moving while a stage waits."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from autovalue.settings import Settings
from autovalue.tables import connect, scorer_heartbeats

log = logging.getLogger(__name__)


def scorer_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    def __init__(self, engine: Engine, group: str, interval_s: float, status: Callable[[], dict]) -> None:
        self.engine, self.group, self.interval_s, self.status = engine, group, interval_s, status
        self.id = scorer_id()
        self.started_at = datetime.now(timezone.utc)
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        statement = insert(scorer_heartbeats)
        self.upsert = statement.on_conflict_do_update(
            index_elements=["scorer_id"],
            set_={c.name: statement.excluded[c.name] for c in scorer_heartbeats.columns if c.name != "scorer_id"})
        self.wake = threading.Event()
        self.done = threading.Event()
        self.failing = False
        self.thread = threading.Thread(target=self._run, name="scorer-heartbeat", daemon=True)

    def start(self) -> "Heartbeat":
        self.thread.start()
        return self

    def poke(self) -> None:
        """Write now (the assignment changed), not at the next interval."""
        self.wake.set()

    def stop(self, state: str) -> None:
        """The last row, with the final state; nothing when never started (e.g. the rescorer)."""
        if self.thread.ident is None:
            return
        self.done.set()
        self.wake.set()
        if self.thread.is_alive():
            self.thread.join(timeout=10)
        self.write(state)

    def _run(self) -> None:
        while not self.done.is_set():
            self.write()
            self.wake.wait(self.interval_s)
            self.wake.clear()

    def write(self, state: str | None = None) -> None:
        status = self.status()
        row = {"scorer_id": self.id, "consumer_group": self.group, "host": socket.gethostname(), "pid": os.getpid(),
               "partitions": ",".join(str(p) for p in sorted(status["partitions"])), "lag": status["lag"],
               "fetch_wait_ms": status["fetch_wait_ms"], "state": state or status["state"],
               "started_at": self.started_at, "last_progress_at": status["last_progress_at"],
               "updated_at": datetime.now(timezone.utc)}
        if state is not None:
            row["partitions"] = ""
        try:
            with self.engine.begin() as connection:
                connection.execute(self.upsert, row)
            if self.failing:
                log.info("heartbeat written again")
            self.failing = False
        except Exception as error:  # only a report: never a reason to stop scoring
            if not self.failing:
                log.warning("heartbeat not written (%s); scoring goes on", str(error).splitlines()[0])
            self.failing = True


def members_holding_partitions(engine: Engine, group: str, fresh_s: float, besides: str) -> list[str]:
    """Other scorers of `group` whose fresh heartbeat says they hold partitions; ["unknown"]
    when the table cannot be read (then the group is assumed to work rather than disturbed)."""
    since = datetime.now(timezone.utc) - timedelta(seconds=fresh_s)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(scorer_heartbeats.c.scorer_id, scorer_heartbeats.c.partitions,
                                             scorer_heartbeats.c.updated_at)
                                      .where(scorer_heartbeats.c.consumer_group == group)).all()
    except Exception as error:
        log.warning("scorer heartbeats unreadable (%s)", str(error).splitlines()[0])
        return ["unknown"]
    return [r.scorer_id for r in rows if r.scorer_id != besides and r.partitions and _aware(r.updated_at) >= since]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)  # SQLite returns naive UTC


def wait_until_group_settled(settings: Settings, members: int, timeout_s: float = 120) -> list[dict]:
    """Until `members` scorers of the group hold partitions and together hold each partition
    exactly once, by their heartbeat rows (written as soon as an assignment changes): the
    group's rebalance has settled. Returns the rows; raises TimeoutError after `timeout_s`."""
    deadline, rows = time.monotonic() + timeout_s, []
    while time.monotonic() < deadline:
        engine = connect(settings.database)
        with engine.connect() as connection:
            rows = [dict(r._mapping) for r in connection.execute(
                select(scorer_heartbeats).where(scorer_heartbeats.c.consumer_group == settings.consumer_group))]
        engine.dispose()
        held = [r["partitions"].split(",") for r in rows if r["partitions"]]
        flat = [p for partitions in held for p in partitions]
        if len(held) == members and len(flat) == len(set(flat)) == settings.topic_partitions:
            return rows
        time.sleep(0.2)
    raise TimeoutError(f"{members} scorers did not settle in group {settings.consumer_group}: {rows}")
