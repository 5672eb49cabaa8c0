# The two commands (see README): `make demo` runs the main job, `make test` runs every test.
# `make demo ARGS=--quick` passes options to `vlaforge demo`. Both first build .venv from nothing: torch (CPU wheel; install your CUDA torch into .venv
# first to keep it), then vlaforge with the extras in EXTRAS (test, and ray so the Ray backend's tests run). Re-running skips what is done.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS ?= test,ray

.PHONY: setup demo test clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: $(STAMP)
	MUJOCO_GL=egl $(BIN)/vlaforge demo $(ARGS)

test: $(STAMP)
	MUJOCO_GL=egl $(BIN)/python -m pytest -n 2 --durations=15

clean:
	rm -rf $(VENV) outputs .pytest_cache
