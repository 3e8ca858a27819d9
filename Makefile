# Every target creates .venv when missing and installs the project with pinned dependencies.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint typecheck unit bench bench-full bench-peers clean

$(STAMP): pyproject.toml setup.py src/gristmill/shuffle/_fold.c src/gristmill/shuffle/_radix.c src/gristmill/shuffle/_strings.c src/gristmill/shuffle/_strsums.c src/gristmill/shuffle/_loops.h
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
	$(BIN)/python -m benchmarks.run --size 1KB --size 100MB

bench-full: $(STAMP)
	$(BIN)/python -m benchmarks.run --size 1GB --size 10GB

# ETL (Parquet), grep and high-cardinality reduce_by_key at 1KB and 100MB, one run each (about
# three minutes without peers); kept out of `bench` so that stays short.
.PHONY: bench-workloads
bench-workloads: $(STAMP)
	$(BIN)/python -m benchmarks.run --workload etl --workload grep --workload highcard \
		--size 1KB --size 100MB --runs 1

# The peers (PySpark, Dask, Polars, DuckDB, Ray, mrjob) live in their own pinned environment.
PEERS := .venv-peers
$(PEERS)/.installed: benchmarks/peers/requirements.txt
	test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install -q -r benchmarks/peers/requirements.txt
	touch $(PEERS)/.installed

bench-peers: $(STAMP) $(PEERS)/.installed
	$(BIN)/python -m benchmarks.run --peers $(PEERS)/bin/python --size 100MB --size 1GB

clean:
	rm -rf $(VENV) $(PEERS) .pytest_cache .mypy_cache .ruff_cache demo-data
