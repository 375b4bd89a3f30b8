# make demo: server on SQLite + a demo study, progress and the best trial.
# make test: lint + the whole test suite. Both set up .venv themselves.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint stubs bench clean

# The demo needs only the runtime (server + worker); the tests add the dev toolchain.
DEMO_STAMP := $(VENV)/.installed-demo

$(VENV)/bin/python:
	python3 -m venv $(VENV)

$(DEMO_STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "make demo: installing asktell[server,worker] into $(VENV), once: 1.2 GB (PyTorch 750 MB,"
	@echo "  SciPy, scikit-learn, NumPy, grpcio); minutes on a fresh machine (README: measured)"
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -e '.[server,worker]'
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "installing asktell[dev,worker] into $(VENV) (the runtime plus linters, mypy, pytest,"
	@echo "  Optuna and the deploy validators: a few minutes on a fresh machine, once)"
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,worker]'
	touch $(STAMP) $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(VENV)/bin/asktell demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	PATH=$(VENV)/bin:$$PATH scripts/mypy.sh

# Test processes (pytest-xdist), each with its own PostgreSQL cluster; a module runs whole
# in one of them. Three on this 2-core machine: many tests wait on servers, workers and
# Prometheus, so a third process fills the idle time (2:57 against 3:26 with two).
# --no-loadscope-reorder: xdist would hand out the modules with the most tests first; the
# order of tests/conftest.py (the slow ones first) keeps the long tests off the tail.
# -ra lists every skip with its reason (CI has none: tests/ci.py); --durations shows
# where the time goes.
TEST_PROCESSES ?= 3
test: lint
	scripts/test-services.sh
	$(PY) -m pytest -q -n $(TEST_PROCESSES) --dist loadscope --no-loadscope-reorder \
	  -ra --durations=25

stubs: $(STAMP)
	PATH=$(VENV)/bin:$$PATH scripts/gen_stubs.sh

bench: $(STAMP)
	$(PY) benchmarks/throughput.py

clean:
	rm -rf $(VENV) asktell-demo.db*
