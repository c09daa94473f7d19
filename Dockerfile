# One image for every AutoValue process (service, scorer, app, MLflow, jobs), built on the
# runtime lock file requirements.txt (the test and dev tools of requirements-dev.txt stay out).
FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt
COPY pyproject.toml README.md /src/
COPY autovalue /src/autovalue
COPY autovalue_cli /src/autovalue_cli
COPY market /src/market
COPY broker /src/broker
COPY feature_repo /src/feature_repo
COPY training /src/training
COPY bento /src/bento
COPY consumers /src/consumers
COPY app /src/app
COPY deploy /src/deploy
RUN /opt/venv/bin/pip install --no-deps /src

FROM python:3.11.14-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    BENTOML_DO_NOT_TRACK=true \
    MLFLOW_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=true \
    OTEL_SDK_DISABLED=true \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    AUTOVALUE_HOME=/var/lib/autovalue \
    AUTOVALUE_SERVICE_PORT=3000
# A numeric user: a runtime can check it is not root without reading /etc/passwd.
RUN useradd --create-home --uid 10001 --user-group autovalue \
    && mkdir -p /var/lib/autovalue && chown 10001:10001 /var/lib/autovalue
COPY --from=build /opt/venv /opt/venv
WORKDIR /var/lib/autovalue
USER 10001:10001
# The valuation service (the default command), the dashboard, MLflow.
EXPOSE 3000 8501 5000
# For the service; docker-compose.yml gives the other processes their own check or none.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['AUTOVALUE_SERVICE_PORT'] + '/readyz', timeout=4)"]
ENTRYPOINT ["autovalue"]
CMD ["serve", "--host", "0.0.0.0"]
