"""A service worker imports XGBoost without scikit-learn (bento/lean_imports.py): XGBoost must
value the same there, and the trainer's processes must keep scikit-learn."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import xgboost as xgb

from bento.lean_imports import skip_unused_imports

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
