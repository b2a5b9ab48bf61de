# The README's two commands run `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install install-test run test lint bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Builds the Rust extension (release) and installs the package editable.
install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"
	# ccusage, for the tests that compare our reports with it (they skip without it).
	@if command -v npm >/dev/null; then npm install --prefix bench --no-audit --no-fund --silent; \
	else echo "npm not found: the ccusage comparisons will skip"; fi

# The main job on the default store: import Claude Code history, show it by day.
run: install
	$(BIN)/usagecore backfill
	$(BIN)/usagecore report daily

test: install-test
	cargo test --quiet
	$(BIN)/python -m pytest -q

lint:
	cargo clippy --all-targets -- -D warnings
	cargo clippy --features python -- -D warnings

bench: install
	$(BIN)/python bench/run.py --size 1GB
