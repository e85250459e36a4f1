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

.PHONY: install run test lint bench lock clean docs java

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

# The Spark parity tests need a Java 17 runtime: installed from Debian when missing and allowed
# (as root), else they are skipped with a line saying why (CI requires them: .ci/run).
java:
	@command -v java >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  echo "installing openjdk-17-jre-headless for the Spark parity tests" && \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null; } || \
	  echo "no Java runtime: the Spark parity tests will be skipped (apt-get install openjdk-17-jre-headless)"

test: install java
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
