# Developer entry points. Needs only python3 (with venv) and GNU make:
# PostgreSQL and Redis come embedded (devstack/) unless DATABASE_URL / REDIS_URL are set.
#
#   make run     whole system on http://127.0.0.1:$${PORT:-8000}/admin/queues/ (data in var/)
#   make test    checks + pytest (PYTEST_ARGS="-k foo -x" to pass arguments)
#   make bench   throughput benchmark
#   make clean   delete var/ (embedded database and Redis data)

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.requirements.stamp
PYTEST_ARGS ?=

# Python's playwright package never downloads browsers by itself; make sure
# nothing here tries to either (tests use Debian's /usr/bin/chromium).
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: all venv run test bench clean lint
.DEFAULT_GOAL := run

$(PY):
	$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: on Debian, apt-get install python3-venv"; exit 1; }

# Reinstall whenever a requirements file changes.
$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements-dev.txt
	touch $@

$(VENV) venv: $(STAMP)

run: $(STAMP)
	$(PY) -m devstack.run

test: $(STAMP)
	$(PY) -m devstack.testrun $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m bench

lint: $(STAMP)
	@if $(PY) -m ruff --version >/dev/null 2>&1; then $(PY) -m ruff check .; \
	else echo "ruff not installed; byte-compiling instead"; $(PY) -m compileall -q devstack jobs jobsite monitoring tests; fi

clean:
	rm -rf var
