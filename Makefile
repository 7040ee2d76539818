# One command per everyday task; .ci/run uses the same targets.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run sandbox test lint types check bench install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## run the bot (applies migrations first); no token: the training sandbox
	$(BIN)/aduan run --sandbox-if-no-token

sandbox: $(STAMP)  ## the training sandbox in the browser (ARGS="--scenario --port 8800")
	$(BIN)/aduan sandbox $(ARGS)

test: $(STAMP)  ## unit, integration (SQLite + PostgreSQL) and end-to-end tests
	$(BIN)/python -m pytest $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy bot handlers storage

check: lint types test

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
