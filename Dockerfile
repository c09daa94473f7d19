# One image for every AutoValue process (service, scorer, app, MLflow, jobs), built on the
# same pinned lock file as `make test`.
FROM python:3.11.7-slim-bookworm AS build
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
RUN /opt/venv/bin/pip install --no-deps /src

FROM python:3.11.7-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    BENTOML_DO_NOT_TRACK=true \
    OTEL_SDK_DISABLED=true \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    AUTOVALUE_HOME=/var/lib/autovalue
RUN useradd --create-home --uid 10001 autovalue && mkdir -p /var/lib/autovalue && chown autovalue /var/lib/autovalue
COPY --from=build /opt/venv /opt/venv
COPY --from=build /src/app /opt/autovalue/app
WORKDIR /var/lib/autovalue
USER autovalue
ENTRYPOINT ["autovalue"]
CMD ["--help"]
