# GenEmail entry points. `make demo` and `make test` each do all set-up first.
#
# What keeps running: only what runs in the foreground, and it all stops with Ctrl-C. `make hub` and
# `make app` run until Ctrl-C. `make demo` starts its own local Hub (on HUB_PORT, data in HUB_ROOT) and
# keeps it for as long as its app runs: Ctrl-C stops the app and the Hub together. `make loop` starts
# its own local Hub and stops it when the loop ends (done, failed or interrupted). Neither uses a
# server of another checkout: a port held by anything but a Hub of this HUB_ROOT is refused, with
# what holds it; run on another port with e.g. `HUB_PORT=8766 make demo`. `make test` and `make bench`
# start their servers on free ports and stop them before they end.
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

# Build, publish to its own local Hub, run the demo experiment, then the app; Ctrl-C stops app and Hub.
demo: setup
	$(BIN)/python -m training.demo --artifacts $(ARTIFACTS) --hub-root $(HUB_ROOT) --hub-port $(HUB_PORT)

# One turn of the learning loop on the simulator: v1 -> experiment -> preferences -> DPO -> v2 vs v1.
# Its local Hub stops when the loop ends.
loop: setup
	$(BIN)/python -m training.loop --artifacts $(ARTIFACTS) --hub-root $(HUB_ROOT) --hub-port $(HUB_PORT)

# The local Hub on its own, in the foreground, until Ctrl-C (serves what demo and loop published).
hub: setup
	$(BIN)/genemail hub serve --root $(HUB_ROOT) --host 127.0.0.1 --port $(HUB_PORT) --token $(HUB_TOKEN)

# The app alone, in the foreground, against a Hub already running on HUB_PORT (`make hub` in another terminal).
app: setup
	HF_ENDPOINT=http://127.0.0.1:$(HUB_PORT) GENEMAIL_RELEASE_REPO=demo/genemail-release $(BIN)/python app.py --revision latest

bench: setup
	$(BIN)/python -m bench

# vLLM multi-LoRA serving vs the PEFT path; needs a CUDA GPU and vLLM (says so and exits 0 without them)
bench-vllm: setup
	$(BIN)/python -m bench.bench_vllm

clean:
	rm -rf $(ARTIFACTS) $(HUB_ROOT) .pytest_cache
