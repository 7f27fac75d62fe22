# The two commands a learner needs are `make lab` and `make test`; each sets up .venv itself.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: lab test install lessons run doctor bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

install: $(STAMP)

## JupyterLab on localhost (token-protected, as JupyterLab does by default), opened on the welcome lesson.
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir="$(CURDIR)" $(LAB_ARGS) lessons/00_welcome.ipynb

## Unit tests, lessons-in-sync check, and every notebook in solutions/ and lessons/ under nbval (fast mode).
test: $(STAMP)
	CNNCOURSE_FAST=1 TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest tests solutions lessons \
		--nbval-lax --nbval-cell-timeout=600 --durations=15 $(PYTEST_ARGS)

## Regenerate lessons/ from solutions/ (and strip any outputs saved in solutions/).
lessons: $(STAMP)
	$(BIN)/cnncourse lessons build

run: $(STAMP)
	$(BIN)/cnncourse run

doctor: $(STAMP)
	$(BIN)/cnncourse doctor

bench: $(STAMP)
	$(BIN)/cnncourse bench all

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
