# opsmetrics — the two Quickstart commands are `make run` and `make test`.
# Everything installs into ./.venv; nothing is assumed to be on the machine but python3.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SCALE  ?= 1
SEED   ?= 42
PYTEST_ARGS ?=

.PHONY: install run test lint pytest bench clean

$(BIN)/opsmetrics: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	# uv resolves and installs in seconds; plain pip is the fallback. The spark extra (pyspark,
	# dbt-spark, Ibis pyspark) is installed so `make test` runs the Spark parity test (docs/spark.md).
	# --compile-bytecode writes the .pyc files up front, as pip does: uv skips them by default,
	# and where PYTHONDONTWRITEBYTECODE is set every process (each `opsmetrics query`, each
	# dbt run) would otherwise recompile its imports from source, half of a short query's time.
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev,spark]' \
	  || $(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	touch $@

# The package itself is an editable install (not compiled by the installer); compileall only
# rewrites what changed.
install: $(BIN)/opsmetrics
	$(BIN)/python -m compileall -q analysis_py

## The main job, end to end on the embedded DuckDB warehouse.
run: install
	$(BIN)/opsmetrics run --scale $(SCALE) --seed $(SEED)

## The whole test suite: lint, then pytest (exit code 5, "no tests", fails the target).
test: install lint pytest

lint: install
	$(BIN)/ruff check analysis_py tests bench
	$(BIN)/ruff format --check analysis_py tests bench
	$(BIN)/sqlfluff lint models macros tests/dbt tests/python/analyses/foreign_project --processes 2

# --runslow: the whole suite, including the few tests marked slow (≈ 1 min more); a quick
# local loop is `.venv/bin/pytest -n 2 tests/python/<area>`, which skips them.
pytest: install
	$(BIN)/python -m pytest -n 2 --dist loadgroup --timeout=900 --runslow $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) target logs warehouse data
