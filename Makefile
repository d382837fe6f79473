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
# make evaluate: the run, and optionally another dataset config and split.
RUN ?=
DATA ?=
SPLIT ?=
# make compare: two or more run (or evaluation) directories, and the output folder.
RUNS ?=
OUT ?=
# make dashboard: a run directory, or an experiment name for all its runs.
GROUP ?=
# make evaluate LABELS=expert_all|expert_four|rsna; make score: a predictions CSV, and its labels.
LABELS ?=
PREDICTIONS ?=
# make saliency: the methods to compare (default: every one), and whose boxes (nih|rsna).
METHODS ?=
BOXES ?=
# Test processes (pytest-xdist): much of a smoke run is single-threaded tracing, so two
# processes on two cores finish the suite well before one. --dist loadgroup keeps the tests
# of one xdist_group (those sharing a smoke run) in one process, so it runs once.
PYTEST_WORKERS ?= 2

.PHONY: install lint test test-fast data experiment evaluate compare score saliency dashboard export bench bench-gpu bench-profile bench-scale clean

# make install GPU=1 adds the `gpu` extra: CUDA and cuDNN from pip for TensorFlow and JAX,
# which otherwise fall back to the CPU, silently, without a matching system CUDA.
# Each install leaves a stamp naming its extras. Targets run without GPU=1 accept the GPU
# stamp too, so `make install GPU=1` then `make experiment` keeps the GPU install instead
# of replacing it; a changed pyproject.toml or constraints.txt reinstalls what is there.
# `make clean` forgets both.
STAMP := $(VENV)/.installed$(if $(or $(filter 1,$(GPU)),$(wildcard $(VENV)/.installed-gpu)),-gpu)
install: $(STAMP)

# -c constraints.txt: the exact versions CI tested, so a fresh clone installs those.
# uv installs the same packages as pip does, several times faster: with pip, the install
# of a fresh clone took a quarter of CI's time (the closing note of issue 14 has the figures).
$(VENV)/.installed $(VENV)/.installed-gpu: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt uv
	extras=dev,jax,dashboard; case "$@" in *-gpu) extras=$$extras,gpu;; esac; \
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt -e ".[$$extras]"
	@# The project is PyTorch-free: fail the install if anything pulled torch in.
	@if $(BIN)/pip show torch >/dev/null 2>&1; then echo "error: torch was installed as a dependency; cxr must stay PyTorch-free" >&2; exit 1; fi
	touch $@

# ruff's lint rules and formatting (pyproject.toml's [tool.ruff]) over all the Python.
LINTED := cxr cxr_tfds experiments tests
lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

test: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The quick loop while you work: everything but the tests marked `large`.
test-fast: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -m "not large" $(PYTEST_ARGS)

data: install
	@test -n "$(CXR14_DIR)" || { echo "error: set CXR14_DIR to the folder with the NIH files, e.g. make data CXR14_DIR=~/cxr14 CONFIG=224" >&2; exit 2; }
	$(BIN)/cxr data cxr14_subset --config=$(CONFIG) --manual_dir=$(CXR14_DIR) $(ARGS)

experiment: install
	KERAS_BACKEND=$(BACKEND) $(BIN)/cxr experiment $(NAME) $(ARGS)

# Re-evaluates a saved run (on its own backend unless BACKEND is given):
# make evaluate RUN=runs/<name>/<id> [DATA=<builder>/<config>] [SPLIT=test] [LABELS=expert_all|expert_four|rsna]
# (DATA another dataset, e.g. cxr_vindr/224: external validation on the findings both name)
evaluate: install
	@test -n "$(RUN)" || { echo "error: set RUN to a run directory, e.g. make evaluate RUN=runs/quickstart/<run id>" >&2; exit 2; }
	$(if $(filter command line environment,$(origin BACKEND)),KERAS_BACKEND=$(BACKEND)) $(BIN)/cxr evaluate --run $(RUN) $(if $(DATA),--data $(DATA)) $(if $(SPLIT),--split $(SPLIT)) $(if $(LABELS),--labels $(LABELS)) $(ARGS)

# Any model's per-image probabilities scored as a run's evaluation:
# make score PREDICTIONS=<csv> OUT=<dir> [LABELS=nih|expert_all|expert_four|rsna]
score: install
	@test -n "$(PREDICTIONS)" -a -n "$(OUT)" || { echo "error: set PREDICTIONS to a CSV and OUT to a new folder, e.g. make score PREDICTIONS=chexnet.csv OUT=scores/chexnet" >&2; exit 2; }
	$(BIN)/cxr score $(PREDICTIONS) --out $(OUT) $(if $(LABELS),--labels $(LABELS)) $(ARGS)

# Saliency methods scored alike against NIH's boxes (or RSNA's: BOXES=rsna), with sanity checks:
# make saliency RUN=runs/<name>/<id> [METHODS="gradcam ig"] [DATA=cxr14_subset/<config>] [SPLIT=test] [BOXES=nih|rsna]
saliency: install
	@test -n "$(RUN)" || { echo "error: set RUN to a run directory, e.g. make saliency RUN=runs/quickstart/<run id>" >&2; exit 2; }
	$(BIN)/cxr saliency --run $(RUN) $(if $(METHODS),--methods $(METHODS)) $(if $(DATA),--data $(DATA)) $(if $(SPLIT),--split $(SPLIT)) $(if $(BOXES),--boxes $(BOXES)) $(ARGS)

# Paired comparison of runs evaluated on the same images: make compare RUNS="runs/a/<id> runs/b/<id>" OUT=<dir>
# Evaluations of different images (another dataset or hospital): ARGS=--unpaired (docs/protocols.md)
compare: install
	@test -n "$(RUNS)" -a -n "$(OUT)" || { echo "error: set RUNS to two or more run directories and OUT to a folder, e.g. make compare RUNS=\"runs/a/<id> runs/b/<id>\" OUT=comparisons/ab" >&2; exit 2; }
	$(BIN)/cxr compare $(RUNS) --out $(OUT) $(ARGS)

# A W&B view to review runs in: make dashboard RUN=runs/<name>/<id> | GROUP=<name>
dashboard: install
	@test -n "$(RUN)$(GROUP)" || { echo "error: set RUN to a run directory or GROUP to an experiment, e.g. make dashboard RUN=runs/quickstart/<run id>" >&2; exit 2; }
	$(BIN)/cxr dashboard $(if $(RUN),--run $(RUN)) $(if $(GROUP),--group $(GROUP)) $(ARGS)

# A run's model as a bundle a colleague can use without cxr (model, labels, operating
# points, temperatures, example, model card): make export RUN=runs/<name>/<id> OUT=<dir>
export: install
	@test -n "$(RUN)" -a -n "$(OUT)" || { echo "error: set RUN to a run directory and OUT to a new folder, e.g. make export RUN=runs/quickstart/<run id> OUT=bundles/quickstart" >&2; exit 2; }
	$(BIN)/cxr export $(RUN) --out $(OUT) $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache

# Speed against its limits, rows 1-9 with one per backbone (bench/results.json, with the command,
# commit, machine and versions, and a Markdown table); minutes, not a test. ARGS: --backbones a,b,
# --scale 8 on a GPU, --compare OLD.json NEW.json (docs/bench.md).
bench: install
	$(BIN)/cxr bench $(ARGS)

# Every row that uses an accelerator (1-4, 6, 8, 9) at a GPU's sizes, into bench/results_gpu.json;
# row 6 per backbone with ARGS="--epoch_backbones a,b" (docs/bench.md: what to run in 10 minutes).
bench-gpu: install
	$(BIN)/cxr bench --only gpu --scale 8 $(ARGS)

# The short ratios (rows 2, 4, 5) broken into their causes, each timed alone (bench/profile.json).
bench-profile: install
	$(BIN)/cxr bench --only profile $(ARGS)

# Time and peak memory of every stage at 1.5k, 15k and 112,120 images (bench/scale.json records how long).
bench-scale: install
	$(BIN)/cxr bench-scale $(ARGS)
