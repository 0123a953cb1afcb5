#!/usr/bin/env bash
# How this folder's logs were made (small model + compute against a larger one, first reading): the
# 1.5B model on the fitting split arith[0:30] and the reporting split arith:seed=1[0:20] (vote, N = 4),
# the SmolLM2-135M floor and beam search (0.5B) on the reporting split. The 0.5B SC@16 logs of the
# same splits are in ../heldout/. Resumable: rerun it after any stop, from the repository root.
set -x
P=.venv/bin/ponder
S="-s vote -v confidence --max-tokens 512 --concurrency 2"
$P eval -d 'arith:seed=1[0:20]' -n 4 -m qwen2.5-coder-1.5b $S -o runs/q15-arith-s1-vote4
$P eval -d 'arith[0:20]' -n 4 -m qwen2.5-coder-1.5b $S -o runs/q15-arith-s0-vote4
$P eval -d 'arith:seed=1[0:20]' -n 16 -m smollm2-135m $S -o runs/s135-arith-s1-vote16
# one step-search strategy on the 0.5B model (the model judging its own steps), as recipes/qwen1.5b-beam does
$P eval -d 'arith:seed=1[0:20]' -s beam -n 4 -v llm-prm --option width=2 --option step_tokens=96 --option max_steps=8 \
    -m qwen2.5-coder-0.5b --max-tokens 512 --concurrency 2 -o runs/q05-arith-s1-beam4
