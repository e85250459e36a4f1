# Two commands for a fresh machine with python3 and make: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DB ?= data/warehouse.duckdb
PORT ?= 8501
# Test processes: one per core (pytest-xdist); each test file runs whole in one of them, so a
# file's module fixtures (a served demo, a built history) are built once.
TEST_WORKERS ?= auto

.PHONY: install run test lint bench lock clean docs

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

$(DB): | $(STAMP)
	$(VENV)/bin/csat-radar demo --db $(DB) --truth data/demo_truth.json

run: install $(DB)
	$(VENV)/bin/csat-radar serve --db $(DB) --port $(PORT)

test: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

bench: install
	$(PY) -m benchmarks.run

lock:
	$(PY) -m pip freeze --exclude-editable | grep -v '^csat-radar' > requirements.lock.new
	(echo '# Exact versions every machine installs (make install). Regenerate with: make lock'; cat requirements.lock.new) > requirements.lock
	rm requirements.lock.new

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

docs: install
	$(PY) -m metrics.reports.docs
