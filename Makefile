# Hostplane: `make run` serves the panel, `make test` runs the whole suite. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages: the run needs the services the panel drives (nginx, Postfix, Dovecot, OpenDKIM, sshd for the
# hosting users' keys); the tests need those plus PostgreSQL 15, oathtool, ssh-keygen, swaks and Pebble (an ACME
# test CA with its DNS stub).
SERVICE_DEBS := nginx postfix postfix-sqlite dovecot-imapd dovecot-lmtpd dovecot-sqlite opendkim opendkim-tools \
	openssh-server
RUN_DEBS := python3-venv $(SERVICE_DEBS)
TEST_DEBS := $(RUN_DEBS) postgresql oathtool openssh-client swaks pebble

.PHONY: run test unit lint typecheck pytest venv clean bench

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || bash scripts/debian-packages.sh python3-venv
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	@bash scripts/debian-packages.sh $(RUN_DEBS)
	$(BIN)/hostplane init
	$(BIN)/hostplane serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# The whole suite: lint, types, then every test on SQLite and on a PostgreSQL server started for the run.
test: $(STAMP)
	@bash scripts/debian-packages.sh $(TEST_DEBS)
	$(MAKE) --no-print-directory lint typecheck
	@url=$$(bash scripts/test-postgres.sh start) && \
	  trap 'bash scripts/test-postgres.sh stop' EXIT && \
	  HOSTPLANE_TEST_POSTGRES_URL="$$url" $(BIN)/python -m pytest $(PYTEST_ARGS)

# The unit tests alone (marked `unit`: no daemon, fakes for the drivers), on SQLite: the quick loop while editing.
unit: $(STAMP)
	$(BIN)/python -m pytest -m unit $(PYTEST_ARGS)

bench: $(STAMP)
	@bash scripts/debian-packages.sh wrk
	$(BIN)/python bench/auth_read.py

clean:
	rm -rf $(VENV) state .pytest_cache .mypy_cache .ruff_cache
