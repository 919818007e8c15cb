# neurotype: the two commands a newcomer needs.
#   make book   execute every chapter (full parameters) and render the book into _build/html/
#   make test   pytest, smoke-run every chapter with papermill, build the book with -W --keep-going,
#               then open every page in headless Chromium (images rendered, no errors, links work)
#   make test-fast   the unit tests only (no browser, server, subprocess, allensdk venv or chapter): under two minutes
#   make book PROFILE=smoke   any profile of lib/neurotype/book/profiles.py
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON_BOOTSTRAP ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.neurotype-installed
NATIVE := $(VENV)/.neurotype-native

.PHONY: book test test-fast pytest smoke-book env clean bench

env: $(STAMP) $(NATIVE)

# The venv is rebuilt only when the pins change. torch is pinned to the CPU wheel 2.13.0 exactly.
$(STAMP): requirements.txt requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -c requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# The C++ training loops of the networks (lib/neurotype/models/native.py): compiled once per environment
# and source (about 25 s); without a compiler the Python loops train the networks, with the same numbers.
$(NATIVE): $(STAMP) lib/neurotype/models/fused_step.cpp lib/neurotype/models/native.py
	$(PY) -m neurotype.models.native
	touch $@

# make book PROFILE=paper WORKERS=4 STORAGE=postgresql://user:password@host:5432/optuna: another profile,
# and its Optuna studies tuned by WORKERS local worker processes on STORAGE (more machines can join the
# same studies; README "Scaling out"). Without them: the full profile, as before.
PROFILE ?= full
WORKERS ?=
STORAGE ?=
BOOK_TUNING_ARGS := $(if $(WORKERS), --workers $(WORKERS))$(if $(STORAGE), --storage '$(STORAGE)')

book: $(NATIVE)
	$(PY) -m neurotype.book --profile $(PROFILE)$(BOOK_TUNING_ARGS)

pytest: $(NATIVE)
	$(PY) -m pytest

test-fast: $(NATIVE)
	$(PY) -m pytest -m "not slow" -q

smoke-book: $(NATIVE)
	$(PY) -m neurotype.book --profile smoke --strict

# Other make files (mk/*.mk) add set-up steps the tests need to EXTRA_TEST_PREREQS.
EXTRA_TEST_PREREQS :=
-include mk/*.mk

test: $(EXTRA_TEST_PREREQS) pytest smoke-book browser-check

# Speed figures (not part of the tests): bench/results.json
bench: $(NATIVE)
	$(PY) bench/run.py

clean:
	rm -rf _build
