-- One server, three databases: valuations (autovalue, the default), the Feast registry, MLflow.
CREATE DATABASE feast;
CREATE DATABASE mlflow;
