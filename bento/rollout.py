"""A newly promoted champion served without a restart.

Each worker watches the champion pointer (models/champion.json: the version and when it was
promoted). When it names another version, the worker loads that model beside the one it serves,
warms it up, and switches its reference to it in one assignment: a request holds the valuator it
started with, so none sees a half-loaded model, and none fails for the switch.

Every worker switches at the same moment, the promotion time + `settle_s` (or as soon as it is
loaded, if later), so that the version in the answers changes once, not back and forth between
workers that loaded at different speeds. The moment is kept by the requests themselves
(`choose`): from it on, each takes the new model, whenever the watch thread next wakes to make
the switch for good. A model that cannot be loaded is said once in the log and the worker keeps
serving the one it has.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from autovalue.champion_pointer import read_champion_record

log = logging.getLogger("bentoml.service.autovalue.rollout")  # under bentoml: its workers log that tree


class Rollout:
    def __init__(self, models_dir: Path, current: str, load: Callable[[str], object],
                 switch: Callable[[str, object], None], settle_s: float, clock: Callable[[], float] = time.time) -> None:
        self.models_dir = models_dir
        self.current = current
        self.load = load  # version -> a ready valuator
        self.switch = switch  # (version, valuator) -> None: the one assignment, then clean-up
        self.settle_s = settle_s
        self.clock = clock
        self.pending: tuple[str, object, float] | None = None  # (version, valuator, switch at)
        self.failed: set[str] = set()

    def choose(self, serving: object) -> object:
        """What a request uses: the pending model once its moment has come, else `serving`."""
        pending = self.pending  # one read: the watch thread may replace it meanwhile
        return pending[1] if pending is not None and self.clock() >= pending[2] else serving

    def step(self) -> None:
        record = read_champion_record(self.models_dir)
        if record is None:
            return
        version = record["version"]
        if version == self.current:
            self.pending = None  # a promotion rolled back before it was served
            return
        if self.pending is None or self.pending[0] != version:
            if version in self.failed:
                return
            try:
                valuator = self.load(version)
            except Exception as error:  # noqa: BLE001 — any failure leaves the served model in place
                self.failed.add(version)
                log.error("champion %s cannot be loaded, still serving %s: %s: %s", version, self.current,
                          type(error).__name__, error)
                return
            switch_at = float(record.get("since") or 0.0) + self.settle_s
            self.pending = (version, valuator, switch_at)
            log.info("champion %s loaded beside %s; serving it from %s", version, self.current,
                     time.strftime("%H:%M:%S", time.localtime(switch_at)))
        version, valuator, switch_at = self.pending
        if self.clock() >= switch_at:
            previous = self.current
            self.switch(version, valuator)
            self.current, self.pending = version, None
            log.info("now serving champion %s (was %s)", version, previous)

    def wait_s(self, poll_s: float) -> float:
        """Until the next look: the poll interval, or less when a switch falls due sooner."""
        pending = self.pending
        return poll_s if pending is None else max(0.0, min(poll_s, pending[2] - self.clock()))

    def watch(self, poll_s: float) -> threading.Event:
        """Step in a daemon thread; set the returned event to stop it."""
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(self.wait_s(poll_s)):
                try:
                    self.step()
                except Exception:  # noqa: BLE001 — the watch must outlive any one bad read
                    log.exception("champion watch step failed")

        threading.Thread(target=run, name="champion-rollout", daemon=True).start()
        return stop
