# TrackLayer — `make run` to use it, `make test` to test it. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: help install services browser run serve test lint fmt bench demo-data clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "TrackLayer needs Python 3.11"' \
	  || { echo "Python 3.11 is needed (set PYTHON=/path/to/python3.11)"; exit 1; }
	@if [ ! -x $(BIN)/python ]; then \
	  $(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	    echo "==> python venv support is missing; installing it"; \
	    if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; \
	    else echo "run: sudo apt-get install -y python3-venv"; exit 1; fi; \
	    rm -rf $(VENV); $(PYTHON) -m venv $(VENV); }; \
	fi
	@echo "==> installing TrackLayer and its dependencies into $(VENV)"
	@$(BIN)/python -m pip install -q --upgrade pip > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@$(BIN)/python -m pip install -q -e '.[dev]' > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP) ## Create .venv and install TrackLayer (with the dev extra)

services: install ## Make PostgreSQL and Redis reachable (start or install them)
	@$(BIN)/python -m tracklayer.devenv services

browser: install ## Make sure Debian's Chromium, the browser SDKs (e2e tests) and xmlsec1 (the SSO tests' IdP) are installed
	@$(BIN)/python -m tracklayer.devenv browser

run: install ## Set everything up, seed the demo and serve dashboard + API + worker + beat
	@TRACKLAYER_ENV=$${TRACKLAYER_ENV:-development} $(BIN)/python -m tracklayer.devenv run

serve: install ## Production web server (gunicorn) from the environment: README, "Running in production"
	@$(BIN)/python -m tracklayer.serving $(SERVE_ARGS)

lint: install ## ruff (lint and format check), import-linter (layers) and makemigrations --check
	@echo "==> ruff"
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@echo "==> lint-imports (the dependency rules in pyproject.toml)"
	@$(BIN)/lint-imports --no-cache
	@echo "==> makemigrations --check"
	@TRACKLAYER_ENV=test $(BIN)/python manage.py makemigrations --check --dry-run

test: services browser lint ## Set everything up, lint, check migrations and run the whole suite
	@echo "==> pytest"
	@$(BIN)/pytest $(PYTEST_ARGS)

fmt: install ## Format and fix what ruff can
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .

bench: services ## Run the benchmarks and print figures
	@TRACKLAYER_ENV=test $(BIN)/python -m tests.bench

demo-data: services ## Seed (or refresh) the demo workspace and print its logins as JSON
	@TRACKLAYER_ENV=$${TRACKLAYER_ENV:-development} $(BIN)/python -m tracklayer.devenv migrate
	@TRACKLAYER_ENV=$${TRACKLAYER_ENV:-development} $(BIN)/python manage.py seed_demo --json

clean: ## Remove .venv and local state
	rm -rf $(VENV) var .pytest_cache
