# Two commands do all the set-up on a fresh machine:
#   make demo   -> creates .venv, installs everything, runs the main job on the embedded sample
#   make test   -> creates .venv, installs everything, runs the test suite
PYTHON ?= python3
VENV ?= .venv
OUT ?= runs/demo
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

SYSTEM_TOOLS := Orthanc dciodvfy
SYSTEM_PACKAGES := orthanc orthanc-dicomweb dicom3tools
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test install system

install: system $(STAMP)

# A real PACS (Orthanc with its DICOMweb plugin) and the standard's checker (dicom3tools' dciodvfy), which the tests
# run: installed from Debian where missing.
system:
	@for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES); \
	fi

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
