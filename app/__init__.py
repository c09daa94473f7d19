"""The Streamlit dashboard: `autovalue dashboard` runs `streamlit run app/main.py`.

Pages live in `screens/` (layout only); what they show comes from small modules here that read
the core's tables, the service's HTTP API, Kafka, MLflow and the feature service.
"""
