# Every target creates .venv when missing and installs the project with pinned dependencies.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint typecheck unit bench bench-full clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m gristmill.examples.demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadfile

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --size 100MB

bench-full: $(STAMP)
	$(BIN)/python -m benchmarks.run --size 1GB --size 10GB

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo-data
