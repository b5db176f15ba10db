# `make run` starts the whole back office on a laptop; `make test` runs the suite.
# Everything else is a step of those two (see README.md).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
# Local commands run with DEBUG on unless the caller says otherwise; `make run` forces it.
MANAGE := DEBUG=$${DEBUG:-1} $(PY) manage.py

# The interpreter that builds .venv: pyenv's (.python-version) if it is installed, else
# the first python3.14/3.13/3.12/python3 on PATH that is 3.12 or newer. Override with
# `make PYTHON=/path/to/python3.13 ...`.
PYTHON ?= $(shell for candidate in "$$(pyenv which python 2>/dev/null)" python3.14 python3.13 \
	python3.12 python3; do \
	  [ -n "$$candidate" ] || continue; \
	  path=$$(command -v "$$candidate" 2>/dev/null) || continue; \
	  "$$path" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null \
	    && { echo "$$path"; break; }; \
	done)

# Under CI the fast tests are spread over both cores; browser and Celery worker tests
# run on their own afterwards (live server, one shared broker queue).
TEST_WORKERS ?= $(if $(CI),2,auto)
PYTEST_ARGS ?=
REPORTS := var/test-reports

.PHONY: help install setup migrate messages demo run test lint format check bench clean makemessages

help:
	@echo "make run     create .venv, migrate, load demo data, start web + worker + beat"
	@echo "make test    run the whole test suite (SQLite unless DATABASE_URL is set)"
	@echo "make lint    ruff check and ruff format --check"
	@echo "make check   Django system checks and missing migrations"
	@echo "make bench   benchmarks (PostgreSQL: set DATABASE_URL)"

# One virtualenv for running, testing and linting: the demo data needs Faker, which is
# a development requirement, and a newcomer's next command is usually `make test`.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@if [ -z "$(PYTHON)" ]; then \
	  echo "No Python 3.12 or newer found (3.13 is recommended, see .python-version)."; \
	  echo "Install one (pyenv install 3.13, or your system's python3.13 package)"; \
	  echo "or point to it: make PYTHON=/path/to/python3.13 run"; \
	  exit 1; \
	fi
	@"$(PYTHON)" -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 12) else \
	  f"$(PYTHON) is Python {v[0]}.{v[1]}; 3.12 or newer is needed.")'
	@if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then \
	  echo "Recreating $(VENV): it was built with a Python older than 3.12."; rm -rf $(VENV); \
	fi
	@if [ ! -x $(PY) ]; then \
	  echo "Creating $(VENV) with $(PYTHON)"; \
	  "$(PYTHON)" -m venv $(VENV) || { \
	    echo "Could not create $(VENV); on Debian/Ubuntu install the python3-venv package."; \
	    rm -rf $(VENV); exit 1; }; \
	fi
	@echo "Installing requirements-dev.txt (includes requirements.txt)"
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed

migrate: install
	$(MANAGE) migrate --no-input

# The compiled catalogues are committed, so a machine without GNU gettext still works.
# Refresh the Russian catalogue from our code plus django-unfold's templates and
# Python (Unfold ships no translations; its strings live in our catalogue). Needs
# GNU gettext; translate the new empty entries in locale/ru/LC_MESSAGES/django.po.
makemessages: install
	ln -sfn "$$($(PY) -c 'import os, unfold; print(os.path.dirname(unfold.__file__))')" _unfold_strings
	DEBUG=1 $(MANAGE) makemessages -l ru --symlinks --no-obsolete \
	  --ignore=.venv --ignore=staticfiles --ignore=var --ignore=bench --ignore=tests; \
	  status=$$?; rm -f _unfold_strings; exit $$status

messages: install
	@if command -v msgfmt >/dev/null 2>&1; then \
	  $(MANAGE) compilemessages --ignore=.venv --ignore=node_modules -v 0; \
	else \
	  echo "msgfmt (GNU gettext) not found: using the compiled .mo files in locale/"; \
	fi

setup: migrate messages

demo: setup
	$(MANAGE) seed_demo

run: export DEBUG := 1
run: setup
	@$(MANAGE) seed_demo
	@echo
	@echo "Admin:        http://127.0.0.1:8000/admin/"
	@echo "Cashier desk: http://127.0.0.1:8000/cashier/"
	@echo "API docs:     http://127.0.0.1:8000/api/v1/docs/"
	@echo
	@$(PY) scripts/run_local.py

# First, on their own: the browser and worker tests and the `serial` ones (threads tests
# that need the database server's connections to themselves); then the fast tests in
# parallel. A part with no tests (pytest exit code 5) is fine; the last lines give the
# combined count.
test: install
	@mkdir -p $(REPORTS); rm -f $(REPORTS)/*.xml; status=0; \
	$(PYTEST) -m "e2e or worker or serial" --junitxml=$(REPORTS)/serial.xml $(PYTEST_ARGS); \
	code=$$?; if [ $$code -ne 0 ] && [ $$code -ne 5 ]; then status=$$code; fi; \
	$(PYTEST) -m "not e2e and not worker and not serial" -n $(TEST_WORKERS) \
	  --junitxml=$(REPORTS)/parallel.xml $(PYTEST_ARGS); \
	code=$$?; if [ $$code -ne 0 ] && [ $$code -ne 5 ]; then status=$$code; fi; \
	$(PY) scripts/test_summary.py $(REPORTS)/*.xml || status=1; \
	exit $$status

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check: install
	$(MANAGE) check --fail-level WARNING
	$(MANAGE) makemigrations --check --dry-run

bench: install
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var/test-reports
