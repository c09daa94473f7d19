"""`autovalue demo`'s order of start: the whole pipeline on one machine, until stopped.

broker -> dashboard and outcome consumer (they need no model) while market (generated once) ->
features -> model (trained when none, without baselines) -> service, scorer and market feed -> simulator
(or a dated imported market's replay) -> baselines of a champion that has none (in the background,
niced) -> the retrain schedule. Long-running parts are child processes under deploy.supervisor: a
child that dies is reported and started again with backoff; one that keeps dying ends the demo with
status 1.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from autovalue.service_paths import READY_PATH
from autovalue.settings import Settings
from deploy.processes import answers, autovalue_command, stop_on_signal
from deploy.supervisor import Supervisor, SupervisorFailed


@dataclass(frozen=True)
class DemoOptions:
    source: str | None = None  # an imported market instead of the simulated one
    speedup: float = 86_400.0  # a dated source's replay: simulated seconds per real second
    rate: float = 20.0  # simulated listings per second
    duration: float = 86_400.0  # seconds of simulated listings
    no_wait: bool = False  # start everything, run `settle` seconds, stop
    settle: float = 20.0


def _wait_ready(settings: Settings, process: subprocess.Popen, stop: list, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not stop:
        if process.poll() is not None:
            raise SupervisorFailed("the valuation service exited; see its log")
        if answers(settings.service_url + READY_PATH):
            return
        time.sleep(0.5)
    if not stop:
        raise SupervisorFailed("the valuation service did not become ready")


def _niced(argv: list[str]) -> list[str]:
    nice = shutil.which("nice")
    return [nice, "-n", "10", *argv] if nice else argv


def setup(settings: Settings, baselines: bool = True, imported: bool = False) -> None:
    """What a fresh deployment needs once: market data, features in both stores, a champion
    (with `baselines=False`, trained without them: training.baselines). An `imported` source's
    features are always built: an undated one has no statistics whose presence would say so."""
    from feature_repo.definitions import stats_path
    from feature_repo.pipeline import build_features
    from market.generate import generate_market
    from market.io import read_source, table_path

    from training.champion import ensure_champion

    # MLflow's first use creates its tables, seconds of single-threaded Python: a process of its
    # own does it while the market and the features are built, instead of after.
    # (A plain child: multiprocessing's resource tracker ignores SIGTERM and held up the stop; bench/README.md.)
    tracking = subprocess.Popen([sys.executable, "-c", "from training.tracking import prepare_tracking; "
                                 "prepare_tracking()"])
    try:
        if not table_path(settings.raw_dir, settings.market_source).exists():
            print("market: generating")
            generate_market(settings.raw_dir, settings.market_listings, settings.market_seed, settings.market_end(),
                            settings.market_days)
        if imported or not Path(stats_path(settings, "model", settings.market_source)).exists():
            print("features: building, applying, materializing")
            build_features(settings, read_source(settings.raw_dir, settings.market_source),
                           source=settings.market_source)
    except BaseException:
        tracking.terminate()
        raise
    finally:
        tracking.wait()  # a failure there is met again, and reported, by ensure_champion
    ensure_champion(settings, baselines)


def _broker_watch(broker, children: Supervisor, scorer_log) -> None:
    """tansu keeps everything in memory: when the demo's broker dies it is started again, and
    the demo says plainly what that cost (the scorer's log names the offsets and counts)."""
    if broker.process is None or broker.process.poll() is None:
        return
    status = broker.process.returncode
    broker.start()
    children.spare(broker.process)
    print(f"broker: tansu exited with status {status} and was started again, empty: it keeps everything in "
          "memory, so every listing, valuation and dead letter on its topics is gone, and the listings not yet "
          f"valued are lost; the scorer's log names the partitions, offsets and count ({scorer_log})",
          file=sys.stderr, flush=True)


def _stream(children: Supervisor, options: DemoOptions, dated: bool) -> None:
    """The listings: simulated, a dated source's replay, or none for an undated source."""
    if not options.source:
        children.start("simulator", autovalue_command("simulate", "--rate", str(options.rate), "--duration", str(options.duration),
                                                "--bad-share", "0.02"), restart=False)
    elif dated:
        children.start("replay", autovalue_command("replay", options.source, "--speedup", str(options.speedup), "--quiet"),
                       restart=False)
    else:
        print(f"stream: none ({options.source} has no listing dates: nothing to replay); the service and the "
              "dashboard run")


def run_demo(settings: Settings, options: DemoOptions, dated: bool) -> int:
    """Everything, until a stop (Ctrl-C, SIGTERM) or `options.settle` seconds with `no_wait`;
    0, 1 when a child kept dying, 130 when stopped during the set-up."""
    from broker.embedded import EmbeddedBroker

    broker = EmbeddedBroker(settings).start()
    print(f"broker: {settings.kafka_bootstrap}{' (reused)' if broker.reused else ''}")
    children = Supervisor(settings.data_dir / "logs", adopt_orphans=True)
    children.spare(broker.process)  # the demo's own child: ending it as an orphan emptied the broker
    # During the setup a stop ends it at once (SIGTERM as Ctrl-C does); after, it only asks to stop.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        # These need no model: they start on the core that generating the market and building
        # the features (one thread each) leave idle, instead of after the training.
        children.start("dashboard", autovalue_command("dashboard"))
        print(f"dashboard: http://{settings.dashboard_host}:{settings.dashboard_port}")
        children.start("outcomes", autovalue_command("outcomes"))
        setup(settings, baselines=False, imported=bool(options.source))
        stop = stop_on_signal()
        service = children.start("service", autovalue_command("serve"))
        # The scorer joins its group while the service starts; it retries a service not yet up.
        children.start("scorer", autovalue_command("score"))
        # Beside the scorer, not its child: one feed pushes the market statistics for every scorer.
        children.start("market-feed", autovalue_command("market-feed"))
        _wait_ready(settings, service, stop)
        print(f"service: {settings.service_url} ready")
        _stream(children, options, dated)
        # Nothing to do when the champion's run has them; niced, so the stream keeps the cores.
        children.start("baselines", _niced(autovalue_command("baselines")), restart=False)
        if dated:  # the loop: a challenger on what the stream has landed, every few market days
            children.start("retrain", _niced(autovalue_command("retrain", "--every-days")))
        if not options.no_wait:
            print("running; Ctrl-C stops everything")
        scorer_log = children.log_path("scorer")
        children.run(lambda: _broker_watch(broker, children, scorer_log) or bool(stop),
                     until=time.monotonic() + options.settle if options.no_wait else None)
    except SupervisorFailed as error:
        print(f"autovalue demo: {error}; stopping", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("autovalue demo: stopped during the setup", file=sys.stderr)
        return 130
    finally:
        children.stop_all()
        broker.stop()
    return 0


