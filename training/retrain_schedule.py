"""`autovalue retrain --every-days N`: the loop on a schedule, as a service of its own (the demo
starts one, compose runs one).

Every N market days (on the market's clock: AUTOVALUE_MARKET_DAYS_PER_MINUTE simulated days a
real minute) it retrains once (training.retrain) and says what it decided in one line. Too few
landed sales is expected early in a stream: said, and tried again next time. Anything else ends
the process with its error, for its supervisor (the demo's, or compose's restart policy) to
start it again with backoff, rather than retrying a failure it does not understand forever.
"""

from __future__ import annotations

from collections.abc import Callable
from threading import Event

from autovalue.settings import Settings


def interval_s(settings: Settings, every_days: float) -> float:
    """Real seconds between retrains: `every_days` market days on the market's clock."""
    return every_days / settings.market_days_per_minute * 60.0


def retrain_on_schedule(settings: Settings, every_days: float, stop: Event,
                        run: Callable[[Settings], object] | None = None, say: Callable[[str], None] = print) -> int:
    """Retrain every `every_days` market days until `stop` is set; returns how many retrains ran."""
    from training.retrain import TooFewOutcomes, retrain

    run = run or retrain
    wait = interval_s(settings, every_days)
    say(f"retrain: every {every_days:g} market days ({wait:.0f} s at {settings.market_days_per_minute:g} "
        "market days a minute)")
    done = 0
    while not stop.wait(wait):  # the wait itself ends at once when asked to stop
        try:
            result = run(settings)
        except TooFewOutcomes as error:
            say(f"retrain: not yet: {error}")
            continue
        done += 1
        say(result.line())
    return done
