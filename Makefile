# Two entry points for a fresh clone: `make demo` (the whole DVC DAG on the built-in demo
# capture) and `make test`. Both create .venv and install the project with its constraints.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Stage commands in dvc.yaml call `python`: make it the venv's.
export PATH := $(BIN):$(PATH)

.PHONY: demo test install params vs-nam runtime-vs-nam clean-outputs

demo: $(STAMP)
	dvc repro

# One pytest worker per core (pytest-xdist), a test file to a worker (its fixtures made once).
test: $(STAMP)
	ruff check .
	ruff format --check .
	pytest -n auto --dist loadfile

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[dev]" -c constraints.txt
	touch $(STAMP)

# Re-compose params.yaml from conf/ (what `dvc exp run` does) after editing conf/ by hand.
params: $(STAMP)
	$(BIN)/python -m ampcapture.core.config compose

# Our trainer against neural-amp-modeler's, same capture and 10-minute budget (after `make demo`;
# another capture once it is split: make vs-nam CAPTURE=mygear).
CAPTURE ?= demo
vs-nam: $(STAMP)
	$(BIN)/python benchmarks/vs_nam.py --capture $(CAPTURE) --minutes 10

# Our real-time engine against neural-amp-modeler's Python model on the same .nam files, one thread.
runtime-vs-nam: $(STAMP)
	$(BIN)/python benchmarks/runtime_vs_nam.py

clean-outputs:
	rm -rf data/stimulus data/captures/demo data/aligned data/splits reports plots models
