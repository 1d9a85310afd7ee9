# Two commands do all the set-up: `make run` and `make test` (README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON := $(VENV)/bin/python
MANAGE := $(PYTHON) manage.py
PYTEST := $(PYTHON) -m pytest -p no:cacheprovider
HOST ?= 127.0.0.1
PORT ?= 8000
# The scale tier of the tests: the real PostgreSQL and Redis on this machine (shared/SERVICES.md).
# A name of its own per run (pytest-django creates and drops test_<name>; the key prefixes keep
# runs that share Redis apart), so two checkouts can test on one machine at once.
RUN_ID := $(shell date +%s)$(shell echo $$$$)
SCALE_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/anomaly_$(RUN_ID)
SCALE_REDIS_URL ?= redis://127.0.0.1:6379/15

# The first Python >= 3.12 that runs (pyenv shims may exist without running, so each is tried).
FIND_PYTHON = for c in python3.12 python3.13 python3.14 python3 $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3; do \
	if "$$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then echo "$$c"; exit 0; fi; \
	done; exit 1

.PHONY: help run test lint test-embedded test-scale test-browser install install-dev browser clean

help:
	@echo "make run    install into $(VENV), migrate, create the demo, serve http://$(HOST):$(PORT)/"
	@echo "make test   install test tools, run ruff and the test suite (embedded, scale, browser)"

$(PYTHON):
	@py=$$($(FIND_PYTHON)) || { echo "Python 3.12 or newer is needed (Django 6.1): install python3.12 and run make again." >&2; exit 1; }; \
	echo "Creating $(VENV) with $$py ($$($$py --version))"; \
	"$$py" -m venv $(VENV) && $(PYTHON) -m pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(PYTHON)
	$(PYTHON) -m pip install -q -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(PYTHON)
	$(PYTHON) -m pip install -q -r requirements-dev.txt
	@touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

# --- make run: one machine, no services. The web server (uvicorn, HTTP + WebSockets), a Celery
# worker on the filesystem broker and the demo stream (points sent over HTTP to the server, which
# it waits for) run side by side; Ctrl-C stops them all. The stream's end does not stop the rest.
# No access log: the stream's two requests a second would bury what the stream itself prints.
run: export DEBUG ?= true
run: $(VENV)/.runtime
	@mkdir -p var
	$(MANAGE) migrate --noinput
	$(MANAGE) setup_demo
	@echo "Serving http://$(HOST):$(PORT)/ with a Celery worker and the demo stream. Ctrl-C stops them."
	@trap 'kill $$(jobs -p) 2>/dev/null; wait' EXIT; \
	$(VENV)/bin/celery -A anomaly_project worker --beat --loglevel=INFO --concurrency=1 \
		--without-gossip --without-mingle & worker=$$!; \
	$(VENV)/bin/uvicorn anomaly_project.asgi:application --host $(HOST) --port $(PORT) --lifespan off \
		--no-access-log & server=$$!; \
	$(MANAGE) stream_demo --url http://$(HOST):$(PORT) & \
	wait -n $$worker $$server

# --- make test: lint, then the suite on the embedded tier, on the scale tier (real PostgreSQL and
# Redis; under CI=true it fails when they do not answer), and the browser tests in their own process
# (sync Playwright breaks async tests that run after it in one process).
test: lint test-embedded test-scale test-browser

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

test-embedded: $(VENV)/.dev
	env -u DATABASE_URL -u REDIS_URL -u CELERY_BROKER_URL $(PYTEST) --ignore=tests/browser

test-scale: $(VENV)/.dev
	TEST_TIER=scale DATABASE_URL=$(SCALE_DATABASE_URL) REDIS_URL=$(SCALE_REDIS_URL) \
		CACHE_KEY_PREFIX=test-$(RUN_ID) CHANNEL_LAYER_PREFIX=test-$(RUN_ID) \
		$(PYTEST) --ignore=tests/browser --ignore=tests/engine

test-browser: $(VENV)/.dev browser
	env -u DATABASE_URL -u REDIS_URL DJANGO_ALLOW_ASYNC_UNSAFE=true $(PYTEST) tests/browser

# Debian's Chromium drives the browser tests (never a downloaded browser).
browser:
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then apt-get install -y -q chromium; \
		else echo "Browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
