# ecmx developer entry points. `make compare` and `make test` build .venv/ first if it is missing.
# Python 3.12 comes from pyenv (.python-version); PYENV_VERSION makes it work from any shell.
SHELL := /bin/bash
PYTHON ?= python3.12
export PYENV_VERSION ?= 3.12.1
VENV := .venv
STAMP := $(VENV)/.ecmx-installed
PYTEST_ARGS ?=

.PHONY: venv compare compare-fine test test-fast clean-cache

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[test]"
	@touch $(STAMP)

## The main job: the NVP vs HE-V comparison (default mesh, well under a minute on 2 cores).
compare: $(STAMP)
	$(VENV)/bin/ecmx compare cases/nvp-vs-hev.yaml --overwrite

## The same comparison on the fine meshes (much longer).
compare-fine: $(STAMP)
	$(VENV)/bin/ecmx compare cases/nvp-vs-hev-fine.yaml --overwrite

## The whole test suite (what CI runs).
test: $(STAMP)
	$(VENV)/bin/python -m pytest -ra $(PYTEST_ARGS)

## Fast tests only (skips @pytest.mark.slow).
test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -ra -m "not slow" $(PYTEST_ARGS)

clean-cache:
	rm -rf .ecmx-cache
