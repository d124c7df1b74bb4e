# FunnelCRM: the commands the README names.
#   make run    set up everything, seed demo data, serve on http://127.0.0.1:8000 with a worker and beat
#   make test   lint, then the whole suite on SQLite (and again on PostgreSQL when DATABASE_URL says so)

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
PYTEST_ARGS ?=
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench loadtest lock clean e2e-deps

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -r requirements-dev.txt -c constraints.txt
	@touch $@

run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py seed_demo --if-empty
	@bash -c '\
	  set -m; pids=(); \
	  stop() { trap - INT TERM EXIT; echo; echo "Stopping web server, worker and beat..."; \
	           kill -TERM "$${pids[@]}" 2>/dev/null; wait 2>/dev/null; echo "Stopped."; exit 0; }; \
	  trap stop INT TERM EXIT; \
	  $(VENV)/bin/celery -A funnelcrm worker --loglevel=INFO --concurrency=2 > .run-worker.log 2>&1 & pids+=($$!); \
	  $(VENV)/bin/celery -A funnelcrm beat --loglevel=INFO --schedule .celerybeat-schedule > .run-beat.log 2>&1 & pids+=($$!); \
	  $(PY) manage.py runserver $(HOST):$(PORT) --noreload & pids+=($$!); \
	  sleep 2; \
	  echo ""; \
	  echo "FunnelCRM is running at http://$(HOST):$(PORT)/  (admin: http://$(HOST):$(PORT)/admin/, API docs: http://$(HOST):$(PORT)/api/docs/)"; \
	  echo "Demo logins (password: demo): admin (Admin), manager (Manager), marketer (Marketer), rep1 and rep2 (Sales rep)"; \
	  echo "Worker and beat logs: .run-worker.log, .run-beat.log.  Press Ctrl-C to stop everything."; \
	  wait -n; stop'

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

# The suite runs on SQLite. When DATABASE_URL points at PostgreSQL it runs again there; the
# PostgreSQL-only tests (row locks, real concurrency) then run in that pass instead of skipping,
# and the Schemathesis fuzzing of the API (marker fuzz, ~5 minutes) runs in that pass only.
test: lint e2e-deps
	@if [[ "$${DATABASE_URL:-}" == postgres* ]]; then \
	  echo "== pytest on SQLite (PostgreSQL-only tests and the API fuzzing run in the next pass)"; \
	  env -u DATABASE_URL $(PY) -m pytest --create-db -m "not postgres and not fuzz" $(PYTEST_ARGS) || exit $$?; \
	  echo "== pytest on PostgreSQL ($${DATABASE_URL%%@*}@...)"; \
	  $(PY) -m pytest --create-db $(PYTEST_ARGS); \
	else \
	  echo "== pytest on SQLite"; \
	  $(PY) -m pytest --create-db $(PYTEST_ARGS); \
	fi

# The browser tests (tests/e2e, Playwright) drive Debian's Chromium, not a downloaded browser.
# Installed here when missing and apt-get can (as root); otherwise those tests skip and say why.
CHROMIUM ?= /usr/bin/chromium
e2e-deps:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "== Installing Chromium from Debian's packages (browser tests)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "== $(CHROMIUM) is missing: the browser tests will skip (install Debian's chromium)"; \
	  fi; \
	fi

lock: $(VENV)/.installed
	$(PIP) freeze | grep -v '^-e' | LC_ALL=C sort -f | sed '1i # Every package the project installs, pinned to the exact version (runtime and dev tools).\n# Regenerate after changing requirements*.txt: make lock' > constraints.txt

clean:
	rm -rf $(VENV) .broker .test-db*.sqlite3* .pytest_cache .ruff_cache staticfiles

# Benchmarks: timing targets live here, not in tests. Runs on a throwaway PostgreSQL database.
# bench_kpis prints its table and exits 0 (bench_import exits 1 on a missed target, which stops
# make), so it runs before the import. Smaller: make bench BENCH_KPIS_ARGS="--leads 20000".
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/funnelcrm_bench
BENCH_DB_RESET = $(PY) -c "import psycopg, sys; from urllib.parse import urlparse; u = urlparse('$(BENCH_DATABASE_URL)'); \
	  c = psycopg.connect(host=u.hostname, port=u.port or 5432, user=u.username, password=u.password, dbname='postgres', autocommit=True); \
	  c.execute('DROP DATABASE IF EXISTS ' + u.path[1:] + ' WITH (FORCE)'); c.execute('CREATE DATABASE ' + u.path[1:])"
bench: $(VENV)/.installed
	$(BENCH_DB_RESET)
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) manage.py bench_scoring $(BENCH_ARGS)
	$(BENCH_DB_RESET)
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) manage.py bench_kpis $(BENCH_KPIS_ARGS)
	$(BENCH_DB_RESET)
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) manage.py bench_board $(BENCH_BOARD_ARGS)
	$(BENCH_DB_RESET)
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) manage.py bench_import $(BENCH_IMPORT_ARGS)

# Load test (README, "Load test"): gunicorn with the production settings (tools/loadtest.py plays
# the TLS proxy) on a PostgreSQL database recreated, migrated and seeded each run; 20 clients for
# 60 s; p50/p95/p99 per endpoint; exits 1 on a missed target. Shorter: LOADTEST_ARGS="--seconds 20".
LOADTEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/funnelcrm_load
LOADTEST_REDIS_URL ?= redis://127.0.0.1:6379/12
loadtest: $(VENV)/.installed
	LOADTEST_DATABASE_URL=$(LOADTEST_DATABASE_URL) LOADTEST_REDIS_URL=$(LOADTEST_REDIS_URL) \
	  $(PY) tools/loadtest.py $(LOADTEST_ARGS)
