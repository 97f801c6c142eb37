# citreg — the two commands a newcomer needs are `make run` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
LOCK := requirements.lock
STAMP := $(VENV)/.installed-$(shell sha1sum $(LOCK) 2>/dev/null | cut -c1-12)
# axe-core for the browser tests' accessibility checks, pinned in package-lock.json.
NPM_STAMP := node_modules/.installed-$(shell sha1sum package-lock.json 2>/dev/null | cut -c1-12)

# Test services: the machine's PostgreSQL and Redis unless overridden.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/citreg
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: help run test install lock lint format check-deploy demo-data screenshots clean

help:
	@echo "make run    - install, migrate, load the published schedule and serve http://127.0.0.1:8000"
	@echo "              (with the local Stripe stand-in on :12111 unless STRIPE_SECRET_KEY is set)"
	@echo "make test   - run the test suite against the local PostgreSQL and Redis"
	@echo "make lock   - re-resolve requirements.lock from pyproject.toml"
	@echo "make lint   - ruff check + format check, migrations check"
	@echo "make screenshots - regenerate the README's screenshots in docs/screenshots/"

$(PY):
	@python=$$(devtools/find_python.sh) || exit 1; \
	echo "Creating $(VENV) with $$python"; \
	"$$python" -m venv $(VENV)

$(STAMP): $(LOCK) | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(LOCK)
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

$(NPM_STAMP): package-lock.json
	npm ci --no-audit --no-fund
	touch $(NPM_STAMP)

lock: | $(PY)
	$(PY) -m pip install --quiet pip-tools
	$(VENV)/bin/pip-compile --quiet --extra dev --generate-hashes --allow-unsafe --strip-extras \
		-o $(LOCK) pyproject.toml

demo-data: install
	$(PY) manage.py migrate --no-input
	$(PY) manage.py import_schedule courses/schedules/cit-911-schedule-2024.txt
	$(PY) manage.py import_schedule courses/schedules/cit-911-schedule-2027.txt
	$(PY) devtools/local_admin.py

run: demo-data
	$(PY) manage.py collectstatic --no-input --verbosity 0
	@echo "Serving http://127.0.0.1:8000 — stop everything with Ctrl-C"
	@# Stripe: the local stand-in unless STRIPE_SECRET_KEY is set (devtools/stripe_env.sh).
	@honcho_args=$$(devtools/stripe_env.sh) && \
		$(VENV)/bin/honcho --procfile Procfile.dev $$honcho_args || \
		{ status=$$?; [ $$status -eq 130 ] || [ $$status -eq 143 ] || exit $$status; }  # Ctrl-C is a normal stop

test: install $(NPM_STAMP)
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
		$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

screenshots: install
	$(PY) devtools/screenshots.py

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

check-deploy: install
	DJANGO_SETTINGS_MODULE=citreg.settings.production SECRET_KEY=$$(openssl rand -hex 40) \
		ALLOWED_HOSTS=citreg.example.org DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
		STRIPE_SECRET_KEY=sk_live_check STRIPE_WEBHOOK_SECRET=whsec_check \
		$(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) var staticfiles
