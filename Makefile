# The two commands a learner needs are `make lab` and `make test`; each sets up .venv itself.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# pytest-xdist workers for `make test`: --dist loadfile keeps each file, so each notebook's cells, whole
# on one worker; --no-loadscope-reorder keeps conftest.py's costliest-first order. JOBS=0 runs
# serially, which is how the per-notebook budgets in README are measured.
JOBS ?= 2
XDIST := $(if $(filter 0,$(JOBS)),-n 0,-n $(JOBS) --dist loadfile --no-loadscope-reorder)

.PHONY: lab test test-quick install browser lessons run slides doctor bench wheel clean
# JupyterLab refuses to run as root unless told (containers, CI).
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e ".[test,instructor,slides]"
	@touch $(STAMP)

install: $(STAMP)

## JupyterLab on localhost (token-protected, as JupyterLab does by default), opened on the welcome lesson.
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir="$(CURDIR)" $(ROOT_FLAG) $(LAB_ARGS) \
		lessons/00_welcome.ipynb

## Unit tests (with the wheel, nbgrader and .keras round-trip tests), lessons-in-sync check, and every
## notebook in solutions/ and lessons/ under nbval (fast mode).
test: $(STAMP) browser
	CNNCOURSE_FAST=1 TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest tests solutions lessons \
		--nbval-lax --nbval-cell-timeout=600 --durations=15 $(XDIST) $(PYTEST_ARGS)

## A maintainer's edit loop: the unit tests of the library, the checkers and the tooling (tests/unit,
## marker `unit`), without the slow ones and without any notebook run.
test-quick: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest tests/unit -m "unit and not slow" -q \
		--durations=10 $(XDIST) $(PYTEST_ARGS)

## Headless Chromium for tests/system/test_browser.py (Debian's package; installed when running as root).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null; \
	  else \
	    echo "!!! chromium is not installed and cannot be (not root): tests/system/test_browser.py will be SKIPPED"; \
	  fi; }

## Regenerate lessons/ from solutions/ (and strip any outputs saved in solutions/).
lessons: $(STAMP)
	$(BIN)/cnncourse lessons build

run: $(STAMP)
	$(BIN)/cnncourse run

## reveal.js decks of every solution notebook (executed in fast mode) in build/slides/, offline
slides: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/cnncourse slides --out build/slides $(SLIDES_ARGS)

doctor: $(STAMP)
	$(BIN)/cnncourse doctor

bench: $(STAMP)
	$(BIN)/cnncourse bench all

## The wheel to install for a room (data, lessons and solutions inside): build/cnncourse-*.whl
wheel: $(STAMP)
	rm -rf build/lib build/bdist.*
	$(BIN)/python -m pip wheel --no-deps --quiet -w build .
	@ls -l build/cnncourse-*.whl

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
