# Two entry points for a fresh clone (see README): `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# --no-compile, then compileall without the libraries' own test suites (about 100 MB of bytecode that never
# runs): every module is compiled once, at install, even where PYTHONDONTWRITEBYTECODE keeps Python from saving
# what it compiles on import (then each `tracker` process would compile pandas again, a second or more).
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile
COMPILE := $(BIN)/python -m compileall -q -j 0 -x '/site-packages/.*/(tests?|testing)/'
CONFIG ?= config.example.toml

.PHONY: install setup run poll test lint pytest bench docs clean

# The runtime only (requirements.lock, exact versions), then this project in editable mode.
$(VENV)/.runtime: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements.lock
	$(PIP) --no-deps --no-build-isolation -e .
	$(COMPILE) $(VENV)/lib tracker connectors reports
	touch $@

# The test and lint tools on top (requirements-dev.lock, exact versions).
$(VENV)/.dev: $(VENV)/.runtime requirements-dev.lock
	$(PIP) -r requirements.lock -r requirements-dev.lock
	touch $@

install: $(VENV)/.runtime

setup: $(VENV)/.dev

run: install
	$(BIN)/tracker --config $(CONFIG) run

test: lint pytest

lint: setup
	$(BIN)/ruff check tracker connectors reports tests benchmarks examples
	$(BIN)/ruff format --check tracker connectors reports tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

pytest: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# Regenerate docs/configuration.md from the settings classes (a test fails when it is stale).
docs: install
	$(BIN)/python -m tracker.docs > docs/configuration.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
