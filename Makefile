# cxr: every target that runs code depends on `install`, so a fresh clone needs only `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Where the NIH ChestX-ray14 files are (the TFDS manual dir); see README.md.
CXR14_DIR ?=
CONFIG ?= 224
NAME ?= quickstart
ARGS ?=
BACKEND ?= tensorflow
PYTEST_ARGS ?=
# Test processes (pytest-xdist): much of a smoke run is single-threaded tracing, so two
# processes on two cores finish the suite well before one.
PYTEST_WORKERS ?= 2

.PHONY: install test test-fast data experiment bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,jax]"
	@# The project is PyTorch-free: fail the install if anything pulled torch in.
	@if $(BIN)/pip show torch >/dev/null 2>&1; then echo "error: torch was installed as a dependency; cxr must stay PyTorch-free" >&2; exit 1; fi
	touch $@

test: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The quick loop while you work: everything but the tests marked `large`.
test-fast: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -m "not large" $(PYTEST_ARGS)

data: install
	@test -n "$(CXR14_DIR)" || { echo "error: set CXR14_DIR to the folder with the NIH files, e.g. make data CXR14_DIR=~/cxr14 CONFIG=224" >&2; exit 2; }
	$(BIN)/python -m cxr_tfds.tfds_build cxr14_subset --config=$(CONFIG) --manual_dir=$(CXR14_DIR)

experiment: install
	KERAS_BACKEND=$(BACKEND) $(BIN)/python -m cxr.experiment $(NAME) $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache

# Speed against its limits (bench/results.json and a Markdown table); minutes, not a test.
bench: install
	$(BIN)/python -m cxr.bench $(ARGS)
