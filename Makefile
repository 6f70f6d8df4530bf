# Everything shoppulse needs is installed here, from requirements.lock (exact pins).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_LOGGING_LEVEL ?= WARNING

.PHONY: install demo test lint format bench clean lock docs

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
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
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m bench

docs: install
	$(BIN)/python -m flows.config_reference > docs/configuration.md

lock:
	$(BIN)/python -m pip freeze --all --exclude-editable --exclude shoppulse --exclude pip > requirements.lock

clean:
	rm -rf $(VENV) .prefect demo .pytest_cache .mypy_cache .ruff_cache
