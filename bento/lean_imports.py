"""What a service worker does not pay for at import: scikit-learn, and Feast's type-check instrumentation.

scikit-learn (and the SciPy modules it pulls in):

XGBoost imports scikit-learn whenever it is installed, for its estimator wrappers
(`xgboost.compat`), which the service never uses: it runs a Booster. That import was most of
XGBoost's import time in each worker's start (bench/README.md, "Service start"). scikit-learn is
an optional dependency of XGBoost, which runs the same without it; marking it absent before
XGBoost is first imported (`sys.modules[name] = None`: Python's documented way to make an import
raise ImportError) gives a worker that configuration. The trainer, which needs scikit-learn,
never calls this. tests/test_lean_imports.py checks XGBoost predicts the same either way.

Type checks: Feast decorates its definition classes (FeatureView, Field, Entity, ...) with
typeguard's `@typechecked`, which re-compiles each decorated function from its source when the
module is imported: about two thirds of `import feast` (bench/README.md, "Service start").
typeguard documents the decorator as meant for code whose checks "aren't meant to be run in
production" and makes it a no-op under `python -O`; -O would also drop every `assert` in every
library, so a worker instead makes only this decorator a no-op before Feast is imported. The
service defines nothing in Feast: its definitions come from the registry, written by the feature
pipeline, whose process keeps the checks (as do the trainer and the CLI).
tests/test_lean_imports.py checks the decorator's forms and that the checks stay elsewhere;
tests/test_features.py that the service's Feast reads answer the same (pinned: typeguard 4.6.1).
"""

from __future__ import annotations

import sys
from typing import Any

UNUSED_IN_SERVICE = ("sklearn",)
TYPEGUARD_WRITTEN_FOR = "4.6.1"


def skip_unused_imports() -> bool:
    """Mark scikit-learn absent in this process, unless it or XGBoost is imported already (then
    it is too late to matter, and something here may need it). True when it was marked."""
    if "xgboost" in sys.modules or any(sys.modules.get(name) is not None for name in UNUSED_IN_SERVICE):
        return False
    for name in UNUSED_IN_SERVICE:
        sys.modules[name] = None
    return True


def _unchecked(target: Any = None, **_options: Any) -> Any:
    """`typeguard.typechecked` as `python -O` has it: the target, unchanged, in both its forms
    (`@typechecked` and `@typechecked(...)`)."""
    return target if target is not None else _unchecked


def skip_type_check_instrumentation() -> bool:
    """Make typeguard's `@typechecked` a no-op for the modules imported from now on, unless Feast
    is imported already (it would keep its checks; nothing is gained). True when it was done."""
    if "feast" in sys.modules:
        return False
    import typeguard

    typeguard.typechecked = _unchecked
    return True
