# Everything shoppulse needs is installed here, from requirements.lock (exact pins).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# uv installs the locked packages (pip took minutes for the same lock); pip only brings uv itself
UV_VERSION := 0.13.8
UV_INSTALL := $(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode --link-mode copy
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_LOGGING_LEVEL ?= WARNING

.PHONY: install bench-install demo test lint format bench bench-quick clean lock docs

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION) \
		|| echo "make: pip could not install uv; pip installs the lock instead"
	$(UV_INSTALL) -r requirements.lock || { \
		echo "make: uv could not install the lock (uv reads UV_INDEX_URL, not pip.conf); pip does, slower"; \
		$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --config-settings editable_mode=compat -e .
	touch $(STAMP)

demo: install
	$(BIN)/shoppulse demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install lint
	$(BIN)/python -m pytest -q -n 3

# the bench extra (dlt as the peer, pyinstrument for profiles): bench-only, never a runtime need
BENCH_STAMP := $(VENV)/.bench-installed

bench-install: $(BENCH_STAMP)

$(BENCH_STAMP): $(STAMP) requirements-bench.lock
	$(UV_INSTALL) -c requirements.lock -r requirements-bench.lock
	touch $(BENCH_STAMP)

bench: bench-install
	$(BIN)/python -m bench

docs: install
	$(BIN)/python -m flows.config_reference > docs/configuration.md

bench-quick: bench-install
	$(BIN)/python -m bench --quick

# the runtime lock leaves out what only the bench extra brings (requirements-bench.lock)
lock:
	$(BIN)/python -m pip freeze --all --exclude-editable --exclude shoppulse --exclude pip --exclude uv \
		| grep -vxF -f requirements-bench.lock > requirements.lock

clean:
	rm -rf $(VENV) .prefect demo .pytest_cache .mypy_cache .ruff_cache
