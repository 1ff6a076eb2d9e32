# One command runs it, one command tests it. Everything else is a detail of those two.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint unit bench clean interop-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/sotto serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: $(STAMP) lint interop-deps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# ts-mls for tests/interop; without npm those tests skip locally (and fail under CI=true).
INTEROP := tests/interop
$(INTEROP)/node_modules/.installed: $(INTEROP)/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: ts-mls interop tests will not run"; exit 0; } \
		&& cd $(INTEROP) && npm ci --no-audit --no-fund && touch node_modules/.installed

interop-deps: $(INTEROP)/node_modules/.installed

# Generator on CPU 1, servers on CPU 0 (bench/servers.py); QUICK=1 keeps it under 5 minutes.
bench: $(STAMP)
	taskset -c 1 $(BIN)/python -m bench $(if $(QUICK),--quick) $(BENCH_ARGS)
	$(BIN)/python bench/mls.py $(if $(QUICK),--sizes 2 10 100)

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
