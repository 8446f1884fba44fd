# GenEmail entry points. `make demo` and `make test` each do all set-up first.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
ARTIFACTS ?= artifacts
HUB_ROOT ?= .hub
HUB_PORT ?= 8765
HUB_TOKEN ?= demo:hf_demo_token_local_only
export HF_HUB_DISABLE_TELEMETRY := 1
export HF_HUB_DISABLE_UPDATE_CHECK := 1
export TOKENIZERS_PARALLELISM := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Text files and pipes in UTF-8 whatever the machine's locale (the corpus and strategies are Chinese).
export PYTHONUTF8 := 1

.PHONY: setup test test-fast demo train loop hub app bench bench-vllm clean help

help:
	@echo "make setup | test | test-fast | demo | train | loop | hub | app | bench | bench-vllm | clean"

# Idempotent: re-installs only when a requirements file, pyproject.toml or setup.py changed.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml setup.py
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -qq -r requirements-dev.txt
	$(BIN)/pip install -qq --no-deps -e .
	@touch $(STAMP)

setup: $(STAMP)

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not integration and not browser"

train: setup
	$(BIN)/python -m training.pipeline --out $(ARTIFACTS)

demo: setup
	$(BIN)/python -m training.demo --artifacts $(ARTIFACTS)

# One turn of the learning loop on the simulator: v1 -> experiment -> preferences -> DPO -> v2 vs v1.
loop: setup
	$(BIN)/python -m training.loop --artifacts $(ARTIFACTS) --hub-root $(HUB_ROOT) --hub-port $(HUB_PORT)

hub: setup
	$(BIN)/genemail hub serve --root $(HUB_ROOT) --host 127.0.0.1 --port $(HUB_PORT) --token $(HUB_TOKEN)

app: setup
	HF_ENDPOINT=http://127.0.0.1:$(HUB_PORT) GENEMAIL_RELEASE_REPO=demo/genemail-release $(BIN)/python app.py --revision latest

bench: setup
	$(BIN)/python -m bench

# vLLM multi-LoRA serving vs the PEFT path; needs a CUDA GPU and vLLM (says so and exits 0 without them)
bench-vllm: setup
	$(BIN)/python -m bench.bench_vllm

clean:
	rm -rf $(ARTIFACTS) $(HUB_ROOT) .pytest_cache
