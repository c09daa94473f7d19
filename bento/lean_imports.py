"""What a service worker does not import: scikit-learn (and the SciPy modules it pulls in).

XGBoost imports scikit-learn whenever it is installed, for its estimator wrappers
(`xgboost.compat`), which the service never uses: it runs a Booster. That import was most of
XGBoost's import time in each worker's start (bench/README.md, "Service start"). scikit-learn is
an optional dependency of XGBoost, which runs the same without it; marking it absent before
XGBoost is first imported (`sys.modules[name] = None`: Python's documented way to make an import
raise ImportError) gives a worker that configuration. The trainer, which needs scikit-learn,
never calls this. tests/test_lean_imports.py checks XGBoost predicts the same either way.
"""

from __future__ import annotations

import sys

UNUSED_IN_SERVICE = ("sklearn",)


def skip_unused_imports() -> bool:
    """Mark scikit-learn absent in this process, unless it or XGBoost is imported already (then
    it is too late to matter, and something here may need it). True when it was marked."""
    if "xgboost" in sys.modules or any(sys.modules.get(name) is not None for name in UNUSED_IN_SERVICE):
        return False
    for name in UNUSED_IN_SERVICE:
        sys.modules[name] = None
    return True
