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

# The learners' environment of a room's hub (`make hub-venv`): every learner must be able to run it,
# so it is made from a Python outside root's home (Debian's python3.11 where there is one).
HUB_VENV  ?= /opt/cnncourse/venv
HUB_BASE_PYTHON ?= $(shell command -v /usr/bin/python3.11 || command -v python3.11)
HUB_DIR   ?= hub-state
HUB_USERS ?=
HUB_ARGS  ?=

.PHONY: lab test test-quick install browser proxy lessons run book slides doctor bench wheel wheel-learner pins hub hub-venv clean
# JupyterLab refuses to run as root unless told (containers, CI).
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

# The extras `make install` installs (and `make pins` pins).
EXTRAS := test,instructor,hub,slides,book

# constraints.txt: the exact versions `make test` passed with (`make pins` rewrites it).
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -c constraints.txt -e ".[$(EXTRAS)]"
	@touch $(STAMP)

install: $(STAMP)

## JupyterLab on localhost (token-protected, as JupyterLab does by default), opened on the welcome lesson.
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir="$(CURDIR)" $(ROOT_FLAG) $(LAB_ARGS) \
		lessons/00_welcome.ipynb

## Unit tests (with the wheel, nbgrader and .keras round-trip tests), lessons-in-sync check, and every
## notebook in solutions/ and lessons/ under nbval (fast mode). CNNCOURSE_GRADING=selftest: every check
## is also replayed as nbgrader's grader would judge it, and a disagreement fails (docs/grading.md).
test: $(STAMP) browser proxy
	CNNCOURSE_FAST=1 CNNCOURSE_GRADING=selftest TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest tests solutions lessons \
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

## JupyterHub's proxy for tests/system/test_hub.py and `make hub` (npm's configurable-http-proxy, as root).
proxy:
	@command -v configurable-http-proxy >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    command -v npm >/dev/null 2>&1 || { echo "installing Debian's nodejs and npm for the hub's proxy"; \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }; \
	    echo "installing configurable-http-proxy (npm) for the hub"; \
	    npm install -g --silent configurable-http-proxy@5 || \
	      echo "!!! npm could not install configurable-http-proxy: tests/system/test_hub.py will be SKIPPED"; \
	  else \
	    echo "!!! configurable-http-proxy is not installed and cannot be (not root): tests/system/test_hub.py will be SKIPPED"; \
	  fi; }

## Regenerate lessons/ from solutions/ (and strip any outputs saved in solutions/).
lessons: $(STAMP)
	$(BIN)/cnncourse lessons build

run: $(STAMP)
	$(BIN)/cnncourse run

## The course as a static website in build/book/ (open build/book/index.html; copy the folder to any
## static host). Reuses the executed notebooks in build/executed/ (`cnncourse run --keep build/executed`)
## and runs, in full mode, only those missing or whose code differs from the solution's (~25 min for all).
book: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/cnncourse book --executed build/executed --out build/book

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

## The learners' wheel for a graded class: the course without solutions/ (build/cnncourse-*+learner-*.whl)
wheel-learner: $(STAMP)
	$(BIN)/cnncourse hub wheel --out build

## Rewrite constraints.txt from this environment (after `make test` passed with it).
pins: $(STAMP)
	$(BIN)/cnncourse pins --extras $(EXTRAS) --out constraints.txt

## The learners' environment of the hub, $(HUB_VENV): the learner wheel (no solutions/) and the pinned
## versions, readable by every user (as root).
hub-venv: $(HUB_VENV)/.installed-stamp

# rebuilt when the course changes (its code, lessons or data), not only its requirements
$(HUB_VENV)/.installed-stamp: pyproject.toml constraints.txt $(wildcard cnncourse/*.py cnncourse/*/*.py \
		cnncourse/*/*/*.py lessons/*.ipynb data/*)
	@[ "$$(id -u)" = 0 ] || { echo "make hub-venv writes $(HUB_VENV) for every learner: run it as root"; exit 2; }
	$(MAKE) wheel-learner
	test -x $(HUB_VENV)/bin/python || $(HUB_BASE_PYTHON) -m venv $(HUB_VENV)
	$(HUB_VENV)/bin/python -m pip install --quiet --upgrade pip
	wheel=$$(ls build/cnncourse-*+learner-*.whl) && \
	  $(HUB_VENV)/bin/python -m pip install --quiet -c constraints.txt "$$wheel[hub]" && \
	  $(HUB_VENV)/bin/python -m pip install --quiet --no-deps --force-reinstall "$$wheel"
	chmod -R a+rX $(HUB_VENV)
	@touch $@

## A JupyterHub for a room on 127.0.0.1:8000 (as root): make hub HUB_USERS=ana,ben [HUB_ARGS="--mem 2G"]
hub: $(STAMP) proxy hub-venv
	@test -n "$(HUB_USERS)" || { echo "name the learners: make hub HUB_USERS=ana,ben (system users: useradd -m NAME, chpasswd)"; exit 2; }
	$(BIN)/cnncourse hub config --out $(HUB_DIR)/jupyterhub_config.py --users $(HUB_USERS) \
		--python $(HUB_VENV)/bin/python $(HUB_ARGS)
	cd $(HUB_DIR) && $(CURDIR)/$(BIN)/jupyterhub -f jupyterhub_config.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
