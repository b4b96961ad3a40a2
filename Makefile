# Onramp's two commands: `make run` and `make test`. Everything else here serves them.
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
HTMX_VERSION ?= 2.0.11

# uv uses this machine's Python and never downloads one.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install run test lint browser vendor clean

install: $(VENV)/.installed

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	touch $@

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) -m webapp.sandbox seed
	@echo ""
	@echo "Onramp is starting (web, Keap sandbox, Celery worker and beat). Stop with Ctrl-C."
	@echo ""
	@echo "  Onramp         http://localhost:8000/      sign in as demo@onramp.test / onramp-demo"
	@echo "  Admin          http://localhost:8000/admin/ and http://localhost:8000/operations/"
	@echo "                 staff@onramp.test / onramp-staff, then a code from the two-factor"
	@echo "                 secret printed above (the pyotp command prints the current one)"
	@echo "  Keap sandbox   http://localhost:8001/sandbox/  on Keap's page sign in as"
	@echo "                 alex@sandbox.keap.test / sandbox (apps ab123, cd456)"
	@echo "                 sam@sandbox.keap.test / sandbox (app ef789)"
	@echo "  Email          printed here, by the web process (console backend)"
	@echo ""
	$(VENV)/bin/honcho start -f Procfile.dev

# Chromium for the browser tests, from Debian, when we may install it.
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

test: install browser
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

# mypy runs once per Django project, each with its own settings: Onramp, and the Keap sandbox.
lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	DJANGO_SETTINGS_MODULE=webapp.settings $(PY) -m mypy webapp --exclude 'webapp/sandbox/' --cache-dir .mypy_cache/onramp
	DJANGO_SETTINGS_MODULE=webapp.sandbox.settings $(PY) -m mypy webapp/sandbox --cache-dir .mypy_cache/sandbox

vendor:
	rm -rf .tools/vendor && mkdir -p .tools/vendor
	cd .tools/vendor && npm pack htmx.org@$(HTMX_VERSION) --silent && tar xzf htmx.org-$(HTMX_VERSION).tgz
	cp .tools/vendor/package/dist/htmx.min.js static/vendor/htmx/htmx-$(HTMX_VERSION).min.js
	cp .tools/vendor/package/LICENSE static/vendor/htmx/LICENSE

clean:
	rm -rf var staticfiles .pytest_cache
