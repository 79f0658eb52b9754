# Two commands set up and run everything on a fresh CPU machine:
#   make demo   # the main job: `vrthinker demo` on the embedded default (synthetic suite + tiny model)
#   make test   # the whole test suite
# Both create .venv on first use and reuse it afterwards.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.vrthinker-installed
OUT    ?= runs/demo

.PHONY: setup demo demo-fast test test-fast clean-venv

setup: $(STAMP)

# Reinstalled when the dependency files change. torch is pinned to the local
# 2.13.0 CPU wheel here (an unpinned torch would pull a multi-GB CUDA build);
# GPU users install their own torch and then `pip install -e .`.
$(STAMP): pyproject.toml requirements/cpu-constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements/cpu-constraints.txt "torch==2.13.0"
	$(BIN)/python -m pip install -q -c requirements/cpu-constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/vrthinker demo --out $(OUT)

demo-fast: setup
	$(BIN)/vrthinker demo --fast --out $(OUT)-fast

test: setup
	./scripts/install_system_deps.sh
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

clean-venv:
	rm -rf $(VENV)
