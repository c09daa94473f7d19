# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv when needed.
# `make demo` binds the service and the dashboard to 127.0.0.1 (AUTOVALUE_SERVICE_HOST, _DASHBOARD_HOST).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# No telemetry anywhere (no network here, and none wanted in production either): the variables of
# autovalue.settings.QUIET_LIBRARIES.
export BENTOML_DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export STREAMLIT_BROWSER_GATHER_USAGE_STATS := false
export OTEL_SDK_DISABLED := true
export PYTHONUNBUFFERED := 1

.PHONY: venv demo test test-fast bench faults clean

venv: $(STAMP)

# The runtime lock file and the test/dev tools in one resolve (the image takes requirements.txt alone).
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: venv
	$(BIN)/autovalue demo

# pytest exits 5 when it collects no test: that is a failure of the suite, said plainly.
run_pytest = $(BIN)/python -m pytest $(1); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make $@: no tests were collected"; fi; exit $$status

test: venv
	@$(call run_pytest,$(PYTEST_ARGS))

# Every part's unit and contract tests, without the slow ones (a real `bentoml serve`, a broker-backed
# scorer, Chromium, training on more than a few thousand rows): under 2 minutes on 2 cores.
test-fast: venv
	@$(call run_pytest,-m "not slow" $(PYTEST_ARGS))

bench: venv
	$(BIN)/python -m bench

# The scorer under faults on an isolated embedded stack, with counts (~25 min; FAULTS_ARGS=--short
# or --only sigkill,load for less).
faults: venv
	$(BIN)/python -m bench.bench_faults $(FAULTS_ARGS)

clean:
	rm -rf $(VENV) data/raw/* data/processed/* models/* mlflow.db mlartifacts
