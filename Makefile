# mslam-plugin: `make demo` builds the offline corpus and runs the tiny recipe;
# `make test` runs the whole test suite. Both install first (idempotent).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.mslam-installed
DATA ?= data/tiny
DEMO_ARGS ?=

.PHONY: install system demo test test-fast bench clean-data

install: system $(STAMP)

system:
	@bash scripts/install_system_deps.sh

# torch first, then fairseq-fixed built against it (no build isolation), then the rest:
# requirements.txt pins the dependencies and the `corpus` extra (gflanguages, for the
# tiny corpus of `make demo`); the package itself adds the mslam-* commands.
$(STAMP): setup.py requirements.txt Makefile
	@echo "== installing the Python stack into $(VENV) (first time: several minutes)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q wheel "setuptools<81" cython "numpy<2.5" torch==2.9.1 torchaudio==2.9.1
	$(PIP) install -q --no-build-isolation fairseq-fixed==0.12.3.1
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q --no-build-isolation --no-deps -e ".[corpus]"
	$(PY) -c "import mslam_plugin, fairseq, torchaudio, gflanguages; print('mslam-plugin', mslam_plugin.__version__, 'on fairseq', fairseq.__version__, 'torch', __import__('torch').__version__)"
	touch $@

demo: install
	PATH="$(abspath $(VENV))/bin:$$PATH" bash examples/tiny/run.sh --data $(DATA) $(DEMO_ARGS)

test: install
	$(PY) -m pytest -ra

test-fast: install
	$(PY) -m pytest -ra -m "not slow"

bench: install
	$(PY) -m benchmarks.run_all

clean-data:
	rm -rf $(DATA)
