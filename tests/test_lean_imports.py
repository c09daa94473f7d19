"""A service worker imports XGBoost without scikit-learn and Feast without typeguard's
instrumentation (bento/lean_imports.py): XGBoost must value the same there, the decorator must
keep both its forms, and everywhere else the checks and scikit-learn stay. The service's Feast
reads are compared in tests/test_features.py."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest
import xgboost as xgb

from bento.lean_imports import TYPEGUARD_WRITTEN_FOR, _unchecked, skip_type_check_instrumentation, skip_unused_imports

PREDICT = """
import json, sys
from bento.lean_imports import skip_unused_imports
marked = skip_unused_imports()
import numpy as np, xgboost as xgb
booster = xgb.Booster(model_file=sys.argv[1])
rows = np.load(sys.argv[2])
print(json.dumps({"marked": marked, "sklearn": xgb.compat.SKLEARN_INSTALLED,
                  "predicted": booster.inplace_predict(rows).tolist()}))
"""


def test_xgboost_predicts_the_same_without_scikit_learn(tmp_path):
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(200, 6)).astype(np.float32)
    rows[rng.random(rows.shape) < 0.1] = np.nan  # missing values take the trees' default branches
    target = np.nan_to_num(rows[:, 0]) * 2 + np.nan_to_num(rows[:, 1]) + rng.normal(scale=0.1, size=200)
    booster = xgb.train({"max_depth": 4, "eta": 0.3}, xgb.DMatrix(rows, label=target), num_boost_round=30)
    booster.save_model(tmp_path / "model.ubj")
    np.save(tmp_path / "rows.npy", rows)
    out = subprocess.run([sys.executable, "-c", PREDICT, str(tmp_path / "model.ubj"), str(tmp_path / "rows.npy")],
                         capture_output=True, text=True, check=True, timeout=120)
    lean = json.loads(out.stdout.strip().splitlines()[-1])
    assert lean["marked"] and lean["sklearn"] is False
    assert np.array_equal(np.asarray(lean["predicted"], dtype=np.float32), booster.inplace_predict(rows))


def test_too_late_is_a_no_op():
    """Here XGBoost (and so scikit-learn) is imported: nothing is marked, scikit-learn stays."""
    import sklearn

    assert skip_unused_imports() is False
    assert sys.modules["sklearn"] is sklearn


FEAST_FIELD = """
import json, sys
from bento.lean_imports import skip_type_check_instrumentation
skipped = skip_type_check_instrumentation() if sys.argv[1] == "skip" else False
from feast.field import Field
from feast.types import Float32
try:
    Field(name=3, dtype=Float32)
    raised = None
except Exception as error:
    raised = type(error).__name__
print(json.dumps({"skipped": skipped, "raised": raised,
                  "instrumented": "check_argument_types_internal" in Field.__init__.__code__.co_names}))
"""


def _feast_field(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", FEAST_FIELD, mode], capture_output=True, text=True, check=True,
                         timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_written_for_the_installed_typeguard():
    assert metadata.version("typeguard") == TYPEGUARD_WRITTEN_FOR, "re-check bento/lean_imports.py against this typeguard"


@pytest.mark.slow  # two fresh interpreters import Feast
def test_feast_is_imported_without_its_type_checks_only_where_asked():
    assert _feast_field("skip") == {"skipped": True, "raised": None, "instrumented": False}
    assert _feast_field("keep") == {"skipped": False, "raised": "TypeCheckError", "instrumented": True}


def test_the_no_op_decorator_keeps_both_forms():
    def function(number: int) -> int:
        return number

    class Definition:
        pass

    assert _unchecked(function) is function and _unchecked(Definition) is Definition
    assert _unchecked(forward_ref_policy=None, collection_check_strategy=None)(function) is function


def test_too_late_for_type_checks_is_a_no_op():
    import feast  # here Feast is imported: its checks stay, the decorator too
    import typeguard

    assert "feast" in sys.modules and feast.FeatureStore

    before = typeguard.typechecked
    assert skip_type_check_instrumentation() is False
    assert typeguard.typechecked is before
