# Two commands set everything up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000
HOST ?= 127.0.0.1

export PORT

.PHONY: run serve standin test package docs lint imports typecheck bandit system-packages unit mutation bench bench-client soak image-test clean help

help:
	@echo "make run    - the broker for development on http://$(HOST):$(PORT) (sandbox without vendor settings)"
	@echo "make serve  - the production server (gunicorn, gevent workers, BROKER_ENV=production)"
	@echo "make standin - the stand-in Mindset API on http://127.0.0.1:$(STANDIN_PORT), for a local production trial"
	@echo "make test   - lint, import layers, type-check, package checks and the whole test suite"
	@echo "make docs   - the documentation site (Sphinx, warnings are errors) into docs/_build/html"
	@echo "make package - build the Flask-Token-Broker wheel and sdist into dist/ and check them"
	@echo "make bench  - the load benchmark (see bench/README.md)"
	@echo "make bench-client - CPU per vendor call: requests' layers, urllib3 alone, the broker's client"
	@echo "make mutation - mutation testing of the security-critical modules (about 50 min)"
	@echo "make image-test - build the container image (Debian base, no registry) and prove it with podman"
	@echo "make soak   - 60 s of load on the production server while the vendor flips between healthy and failing"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

# FLASK_SKIP_DOTENV: the broker reads its dotenv file itself (BROKER_ENV_FILE, default .env).
# Flask's development server: the broker's lines are JSON, Werkzeug's own stay plain text.
run: $(VENV)/.runtime
	FLASK_SKIP_DOTENV=1 $(BIN)/python -m flask --app wsgi run --host $(HOST) --port $(PORT)

serve: $(VENV)/.runtime
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

# The stand-in Mindset API on loopback (standin/README.md), for a local production trial
# against `make serve` (README, "Production"). Only the runtime environment is needed.
STANDIN_PORT ?= 9911
STANDIN_APP_UID ?= dev-app
standin: $(VENV)/.runtime
	STANDIN_API_KEY=$${STANDIN_API_KEY:-dev-key} $(BIN)/python -m standin \
		--app-uid $(STANDIN_APP_UID) --port $(STANDIN_PORT)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The import layers and forbidden imports of [tool.importlinter] in pyproject.toml.
imports: $(VENV)/.dev
	$(BIN)/lint-imports --no-cache

# The example host is a project of its own (its own app and config), checked on its own with
# only the broker's package on its path, as an installed broker would be.
EXAMPLE_TYPE_PATH := .mypy_cache/example-path
typecheck: $(VENV)/.dev
	$(BIN)/mypy
	mkdir -p $(EXAMPLE_TYPE_PATH) && ln -sfn $(CURDIR)/flask_token_broker $(EXAMPLE_TYPE_PATH)/
	cd examples/flask_login_host && MYPYPATH=$(CURDIR)/$(EXAMPLE_TYPE_PATH) \
		$(abspath $(BIN))/mypy --config-file ../../pyproject.toml \
		--cache-dir $(CURDIR)/.mypy_cache/example app config.py

# Security lint of the product code; each accepted finding carries "# nosec <id>" and a reason.
bandit: $(VENV)/.dev
	$(BIN)/bandit -q -r flask_token_broker app serving config.py wsgi.py gunicorn.conf.py bench harness

# The browser test drives Debian's Chromium; the scale-out tests start a real redis-server.
system-packages:
	scripts/install-system-packages.sh chromium redis-server

unit: $(VENV)/.dev system-packages
	$(BIN)/pytest

test: lint imports typecheck bandit package docs unit

# The documentation site (docs/: MyST Markdown pages, API reference from docstrings, the
# settings table from the declarations); a warning fails the build, as a broken page would.
docs: $(VENV)/.dev
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

# The wheel and sdist hosts install (dist/), checked as an index would: the wheel's contents
# (only flask_token_broker at top level) and the metadata's rendering.
package: $(VENV)/.dev
	rm -rf dist build *.egg-info
	$(BIN)/python -m build --no-isolation --outdir dist . >/dev/null
	$(BIN)/check-wheel-contents --toplevel flask_token_broker dist/*.whl
	$(BIN)/twine check --strict dist/*

# Mutates the security-critical modules ([tool.mutmut] in pyproject.toml) and runs their fast
# tests against each mutant; fails while any mutant survives. Incremental: mutants/ keeps the
# verdicts, so only changed functions and the last run's survivors are tested again (remove
# mutants/ for a full run). HYPOTHESIS_PROFILE: the same examples for every mutant (conftest).
# The shared state's tests (marker `redis`) run against a real redis-server on loopback.
# Which tests cover which function is collected afresh each time: left in place, mutmut adds
# only new tests to it, and a changed test's new coverage would go unseen. mutmut's coverage
# run fails now and then (its call-context variable reset from another context); a failed
# attempt changes no verdict, so it is tried up to three times.
mutation: $(VENV)/.dev
	scripts/install-system-packages.sh redis-server
	rm -f mutants/mutmut-stats.json
	for attempt in 1 2 3; do \
		HYPOTHESIS_PROFILE=mutation $(BIN)/mutmut run --max-children 2 && break; \
		[ $$attempt -lt 3 ] || exit 1; \
	done
	$(BIN)/python scripts/mutation_report.py --survivors \
		| HYPOTHESIS_PROFILE=mutation xargs -r $(BIN)/mutmut run --max-children 2 >/dev/null
	$(BIN)/python scripts/mutation_report.py

SOAK_SECONDS ?= 60
soak: $(VENV)/.dev
	$(BIN)/python bench/soak.py --seconds $(SOAK_SECONDS)

# Starts the stand-in vendor, the production server (and nginx + redis-server for two
# instances) and the two reference brokers (Express, aiohttp) on free loopback ports, drives
# wrk, prints one row per scenario with the ratios to the references. BENCH_DURATION=10.
EXPRESS_REFERENCE := bench/references/express
bench: $(VENV)/.dev $(EXPRESS_REFERENCE)/node_modules/.package-lock.json
	scripts/install-system-packages.sh wrk nginx redis-server
	$(BIN)/python bench/run.py

# The Express reference's pinned packages (package-lock.json), installed again when it changes.
$(EXPRESS_REFERENCE)/node_modules/.package-lock.json: $(EXPRESS_REFERENCE)/package-lock.json
	scripts/install-system-packages.sh npm
	cd $(EXPRESS_REFERENCE) && npm ci --no-audit --no-fund

# CPU per vendor call, layer by layer (bench/client_cost.py): about two minutes.
bench-client: $(VENV)/.dev
	$(BIN)/python bench/client_cost.py

# Builds the Dockerfile's image from a debootstrapped Debian base (cached) and runs it with
# podman against the stand-in vendor: health check, token flow, clean stop. Needs root.
image-test: $(VENV)/.dev
	PYTHON=$(BIN)/python scripts/image-test.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache artifacts mutants build dist
