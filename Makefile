# The README's two commands run `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install install-test run test lint bench fuzz price-snapshot

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# pipefail: the build's progress goes through grep, its exit status must not.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# What to show of pip's verbose output while the Rust extension builds: cargo's own
# progress, one line per crate, and the outcome.
BUILD_PROGRESS := grep --line-buffered -E '^ *(Compiling|Finished|Installing|Successfully installed)|^ *(error|warning)(\[|:)' || true

# Builds the Rust extension (release) and installs the package editable.
install: $(BIN)/python
	@echo "Building the Rust extension (release). The first build compiles about 100 crates: a few minutes."
	@$(BIN)/pip install -v -e . 2>&1 | tee $(VENV)/build.log | { $(BUILD_PROGRESS); } \
		|| { echo "build failed; the whole output is in $(VENV)/build.log"; exit 1; }

install-test: $(BIN)/python
	@echo "Building the Rust extension (release). The first build compiles about 100 crates: a few minutes."
	@$(BIN)/pip install -v -e ".[test]" 2>&1 | tee $(VENV)/build.log | { $(BUILD_PROGRESS); } \
		|| { echo "build failed; the whole output is in $(VENV)/build.log"; exit 1; }
	# ccusage, for the tests that compare our reports with it (they skip without it).
	@if command -v npm >/dev/null; then npm install --prefix bench --no-audit --no-fund --silent; \
	else echo "npm not found: the ccusage comparisons will skip"; fi

# genai-prices' data in the compact form prices.py reads without importing genai-prices
# (python/usagecore/price_snapshot.py); after changing the genai-prices pin.
price-snapshot: $(BIN)/python
	$(BIN)/python -m usagecore.price_snapshot

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

# Coverage-guided fuzzing of every decoder (cargo-fuzz and a nightly toolchain; fuzz/README.md).
FUZZ_SECONDS ?= 300
fuzz:
	cd fuzz && cargo +nightly run --quiet --bin seed_corpus
	cd fuzz && cargo +nightly fuzz run decoders corpus/decoders -- -max_total_time=$(FUZZ_SECONDS) -max_len=300000
