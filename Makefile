# Two commands do all the set-up on a fresh machine:
#   make demo   -> creates .venv, installs everything, runs the main job on the embedded sample
#   make test   -> creates .venv, installs everything, runs the test suite
PYTHON ?= python3
VENV ?= .venv
OUT ?= runs/demo
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install

install: $(STAMP)

$(STAMP): requirements.txt requirements-sample.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/monai-denoise sample-data
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/monai-denoise demo --output $(OUT) --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 tests
