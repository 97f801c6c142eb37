# citreg — the two commands a newcomer needs are `make run` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# requirements.lock: production dependencies only; requirements-dev.lock: the same pins plus the
# dev extra (tests, linters, type checking). Each stamp names the lock it installed and its hash.
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
STAMP := $(VENV)/.installed-dev-$(shell sha1sum $(DEV_LOCK) 2>/dev/null | cut -c1-12)
PROD_STAMP := $(VENV)/.installed-production-$(shell sha1sum $(LOCK) 2>/dev/null | cut -c1-12)
PIP_INSTALL := --quiet --disable-pip-version-check --require-hashes --no-deps
# axe-core for the browser tests' accessibility checks, pinned in package-lock.json.
NPM_STAMP := node_modules/.installed-$(shell sha1sum package-lock.json 2>/dev/null | cut -c1-12)

# Test services: the machine's PostgreSQL and Redis unless overridden.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/citreg
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: help run test install install-production browser-deps certificate-fonts lock lint \
	format check-deploy demo-data screenshots clean bench-default-run email-status

help:
	@echo "make run    - install, migrate, load the published schedule and serve http://127.0.0.1:8000"
	@echo "              (with the local Stripe stand-in on :12111 unless STRIPE_SECRET_KEY is set)"
	@echo "make test   - run the test suite against the local PostgreSQL and Redis"
	@echo "              (installs Debian's chromium, npm and the certificate fonts with apt-get"
	@echo "              when missing)"
	@echo "make lock   - re-resolve requirements.lock and requirements-dev.lock from pyproject.toml"
	@echo "make install-production - (re)create $(VENV) with requirements.lock only (no dev tools)"
	@echo "make lint   - ruff, the import layers (lint-imports), mypy, migrations check"
	@echo "make screenshots - regenerate the README's screenshots in docs/screenshots/"
	@echo "make email-status - the default run's latest emails with working links (LAST=20 for more)"
	@echo "make bench-default-run - 200 registrations and 200 emails through a default run: nothing lost"

CREATE_VENV = python=$$(devtools/find_python.sh) || exit 1; \
	echo "Creating $(VENV) with $$python"; \
	"$$python" -m venv $(VENV)

$(PY):
	@$(CREATE_VENV)

# Development: the dev lock (a superset of requirements.lock), installed over whatever is there.
$(STAMP): $(DEV_LOCK) | $(PY)
	$(PY) -m pip install $(PIP_INSTALL) -r $(DEV_LOCK)
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# Production: a new venv with requirements.lock only, so no dev package is left in it.
$(PROD_STAMP): $(LOCK)
	rm -rf $(VENV)
	@$(CREATE_VENV)
	$(PY) -m pip install $(PIP_INSTALL) -r $(LOCK)
	touch $(PROD_STAMP)

install-production: $(PROD_STAMP)

# Browser tests drive Debian's Chromium (/usr/bin/chromium) and get axe-core with npm: install the
# Debian packages that are missing with apt-get (as root, else through sudo); nothing when present.
browser-deps:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	[ -n "$$missing" ] || exit 0; \
	if [ "$$(id -u)" -eq 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null; then sudo=sudo; \
	else \
		echo "The browser tests need the Debian packages$$missing, and installing them needs root" \
			"(no sudo here). As root: apt-get update && apt-get install -y$$missing" >&2; \
		exit 1; \
	fi; \
	echo "Installing$$missing with apt-get"; \
	$$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y$$missing

# Certificates of completion (registrations/certificates/pdf.py) embed Debian's DejaVu Sans
# (Latin, Greek, Cyrillic, Arabic, Hebrew) and WenQuanYi Micro Hei (Chinese, Japanese, Korean):
# installed with apt-get like the browser's packages when a font file is missing.
CERTIFICATE_FONTS := /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:fonts-dejavu-core \
	/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf:fonts-dejavu-core \
	/usr/share/fonts/truetype/wqy/wqy-microhei.ttc:fonts-wqy-microhei
certificate-fonts:
	@missing=""; \
	for entry in $(CERTIFICATE_FONTS); do \
		[ -f "$${entry%%:*}" ] || case " $$missing " in *" $${entry##*:} "*) ;; \
			*) missing="$$missing $${entry##*:}";; esac; \
	done; \
	[ -n "$$missing" ] || exit 0; \
	if [ "$$(id -u)" -eq 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null; then sudo=sudo; \
	else \
		echo "Certificates need the Debian font packages$$missing, and installing them needs" \
			"root (no sudo here). As root: apt-get update && apt-get install -y$$missing" >&2; \
		exit 1; \
	fi; \
	echo "Installing$$missing with apt-get"; \
	$$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends$$missing

$(NPM_STAMP): package-lock.json | browser-deps
	npm ci --no-audit --no-fund
	touch $(NPM_STAMP)

# Production first; the dev lock is then constrained by it, so their common pins are identical.
lock: | $(PY)
	$(PY) -m pip install --quiet pip-tools
	$(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		-o $(LOCK) pyproject.toml
	$(VENV)/bin/pip-compile --quiet --extra dev --generate-hashes --allow-unsafe --strip-extras \
		-c $(LOCK) -o $(DEV_LOCK) pyproject.toml

# The local run takes a .env into account: its management commands and, through honcho's --env,
# every process (citreg.settings.base reads .env only when DJANGO_READ_DOT_ENV_FILE is true).
demo-data run: export DJANGO_READ_DOT_ENV_FILE ?= True
# The development settings, asked for explicitly (settings fail closed: citreg/startup.py), and
# staff sign in with a password alone (every process logs that 2FA is off when it starts; try it
# with `make run STAFF_2FA_REQUIRED=True`).
demo-data run: export DJANGO_SETTINGS_MODULE ?= citreg.settings.base
demo-data run: export DEBUG ?= True
demo-data run: export STAFF_2FA_REQUIRED ?= False

demo-data: install certificate-fonts
	$(PY) manage.py migrate --no-input
	$(PY) manage.py import_schedule courses/schedules/cit-911-schedule-2024.txt
	$(PY) manage.py import_schedule courses/schedules/cit-911-schedule-2027.txt
	$(PY) manage.py load_demo_registrations
	$(PY) manage.py load_demo_attendance
	$(PY) devtools/local_admin.py

# Ports of the web server and the Stripe stand-in: `make run CITREG_PORT=8001 STRIPE_STANDIN_PORT=12112`.
demo-data run: export CITREG_PORT ?= 8000
run: export STRIPE_STANDIN_PORT ?= 12111

run: demo-data
	$(PY) manage.py collectstatic --no-input --verbosity 0
	$(PY) devtools/seed_demo_payments.py
	@echo "Serving http://127.0.0.1:$(CITREG_PORT) — stop everything with Ctrl-C"
	@# Ports, the broker (a running Redis, else the filesystem) and Stripe (the local stand-in
	@# unless STRIPE_SECRET_KEY is set): devtools/run_env.py. Each process restarts when it dies
	@# (devtools/keep_running.py, in Procfile.dev).
	@honcho_args=$$($(PY) devtools/run_env.py) && \
		$(VENV)/bin/honcho --procfile Procfile.dev $$honcho_args || \
		{ status=$$?; [ $$status -eq 130 ] || [ $$status -eq 143 ] || exit $$status; }  # Ctrl-C is a normal stop

# 200 registrations and 200 link requests through the web, back to back, against a default run
# started for it on other ports (bench/default_run_burst.py); prints what was lost (nothing).
bench-default-run: install
	$(PY) bench/default_run_burst.py $(BENCH_ARGS)

test: install browser-deps certificate-fonts $(NPM_STAMP)
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
		$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	DEBUG=True $(PY) manage.py makemigrations --check --dry-run

screenshots: install
	$(PY) devtools/screenshots.py

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The latest emails of the default run, with working links (its SITE_URL from var/run.env).
email-status: export DEBUG ?= True
email-status: install
	@set -a; if [ -f var/run.env ]; then . ./var/run.env; fi; set +a; \
		$(PY) manage.py email_status --last $(or $(LAST),5)

check-deploy: install
	DJANGO_SETTINGS_MODULE=citreg.settings.production SECRET_KEY=$$(openssl rand -hex 40) \
		ALLOWED_HOSTS=citreg.example.org DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
		STRIPE_SECRET_KEY=sk_live_check STRIPE_WEBHOOK_SECRET=whsec_check \
		$(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) var staticfiles
