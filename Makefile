# The two commands of the README. Both create .venv and install the package first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Tests run in three processes (pytest-xdist), most of them waiting on a server, a browser or a subprocess; one test
# at a time per process, so the long ones (collected first) run beside the short ones.
TEST_PROCESSES ?= 3

.PHONY: run test lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ledgerpane serve --host $${HOST:-127.0.0.1} --port $${PORT:-8000}

test: $(STAMP)
	$(BIN)/ruff check server tests benchmarks
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist load --maxschedchunk 1 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check server tests benchmarks

clean:
	rm -rf $(VENV) var .pytest_cache
