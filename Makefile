# `make train` and `make test` set up .venv from nothing (CPU torch first) and run.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# On these machines torch==2.13.0 resolves to a CPU wheel on disk. Elsewhere, for a CPU-only
# install: make setup TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.13.0
ARGS ?=

.PHONY: setup train test test-fast data clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -e '.[train,dev,vectors]'
	touch $@

train: setup
	$(BIN)/python -m bilstm_clf.train $(ARGS)

test: setup
	$(BIN)/python -m pytest -q $(ARGS)

# everything except the real-data training tests
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow" $(ARGS)

data: setup
	$(BIN)/python scripts/prepare_data.py sst2 sst5 trec

clean:
	rm -rf $(VENV) logs .pytest_cache .hypothesis
