"""The run's plots, as PNG files: predicted vs actual, residuals by feature, feature importance."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: training runs headless
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xgboost as xgb  # noqa: E402

RESIDUAL_BINS = 10
TOP_FEATURES = 20


def write_plots(directory: Path, actual: np.ndarray, predicted: np.ndarray, holdout: pd.DataFrame,
                residual_features: list[str], booster: xgb.Booster, currency: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = [_predicted_vs_actual(directory / "predicted_vs_actual.png", actual, predicted, currency)]
    log_residual = np.log(actual) - np.log(predicted)
    for name in residual_features:
        if name in holdout.columns and pd.api.types.is_numeric_dtype(holdout[name]):
            paths.append(_residuals_by(directory / f"residuals_by_{name}.png", holdout[name].to_numpy(float),
                                       log_residual, name))
    paths.append(_importance(directory / "feature_importance.png", booster))
    return paths


def _predicted_vs_actual(path: Path, actual, predicted, currency: str) -> Path:
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.hexbin(actual, predicted, gridsize=60, bins="log", xscale="log", yscale="log", cmap="viridis", mincnt=1)
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    ax.plot([low, high], [low, high], color="red", linewidth=1, label="perfect")
    ax.set(xlabel=f"actual price ({currency})", ylabel=f"predicted price ({currency})",
           title="Holdout: predicted vs actual (XGBoost)")
    ax.legend(loc="upper left")
    return _save(fig, path)


def _residuals_by(path: Path, values: np.ndarray, log_residual: np.ndarray, name: str) -> Path:
    """Median and 10-90% band of log(actual / predicted) per quantile bin of the feature."""
    known = ~np.isnan(values)
    bins = pd.qcut(values[known], RESIDUAL_BINS, duplicates="drop")
    grouped = pd.Series(log_residual[known]).groupby(bins, observed=True)
    centers = pd.Series(values[known]).groupby(bins, observed=True).median()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.fill_between(centers, grouped.quantile(0.1), grouped.quantile(0.9), alpha=0.3, label="10-90%")
    ax.plot(centers, grouped.median(), marker="o", label="median")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set(xlabel=name, ylabel="log(actual / predicted)", title=f"Holdout residuals by {name}")
    ax.legend()
    return _save(fig, path)


def _importance(path: Path, booster: xgb.Booster) -> Path:
    gain = pd.Series(booster.get_score(importance_type="total_gain")).sort_values().tail(TOP_FEATURES)
    fig, ax = plt.subplots(figsize=(7, max(3, 0.3 * len(gain) + 1)))
    ax.barh(gain.index, gain.to_numpy() / gain.sum())
    ax.set(xlabel="share of total gain", title="XGBoost feature importance")
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
