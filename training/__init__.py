"""Training: point-in-time datasets from Feast, XGBoost against baselines, MLflow, model export."""
