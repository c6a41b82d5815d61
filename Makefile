# Two entry points for a fresh clone (see README): `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= config.example.toml

.PHONY: setup run poll test lint pytest bench clean

# Exact versions from requirements.lock, then this project in editable mode.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

run: setup
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

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
