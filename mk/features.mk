# Features chapter: the allensdk environment and the live ACTD refresh.
#   make allensdk-env                 create .venv-allensdk (allensdk 2.16.2; idempotent, stamp file)
#   make refresh-data                 re-download data/actd tables into data/refresh/ (never touches data/ itself)
#   make refresh-data REFRESH_ARGS="--with-sweeps --limit 5"   also download NWB files, recompute noise features
#   make refresh-data REFRESH_ARGS="--force"                   replace the bundled snapshot
ALLENSDK_VENV := .venv-allensdk
ALLENSDK_PY := $(ALLENSDK_VENV)/bin/python
ALLENSDK_STAMP := $(ALLENSDK_VENV)/.neurotype-installed
REFRESH_ARGS ?=

.PHONY: allensdk-env refresh-data

allensdk-env: $(ALLENSDK_STAMP)

$(ALLENSDK_STAMP): requirements-allensdk.txt requirements-allensdk.lock
	test -x $(ALLENSDK_PY) || $(PYTHON_BOOTSTRAP) -m venv $(ALLENSDK_VENV)
	$(ALLENSDK_PY) -m pip install --quiet --upgrade pip
	$(ALLENSDK_PY) -m pip install --quiet -r requirements-allensdk.txt -c requirements-allensdk.lock
	touch $@

# The tests of neurotype.data.refresh run allensdk in this venv (they fail under CI=... when it is missing).
EXTRA_TEST_PREREQS += $(ALLENSDK_STAMP)

# neurotype is not installed into the allensdk venv (its pins differ); lib/ on the path is enough.
refresh-data: $(ALLENSDK_STAMP)
	PYTHONPATH=lib $(ALLENSDK_PY) -m neurotype.data.refresh $(REFRESH_ARGS)
