#!/usr/bin/env bash
# Issue 12's held-out frontier on generated arithmetic, in order (resumable: rerun it after any stop).
# The 0.5B self-consistency logs come from queue.sh (issue 11): fitting split arith[0:30] (seed 0),
# reporting split arith:seed=1[0:20]. Here: the 1.5B model on both (vote, N = 4, the same settings),
# then the SmolLM2-135M floor and beam search (0.5B) on the reporting split; then bench/experiments/small-vs-large/frontier_heldout.py.
set -x
P=.venv/bin/ponder
S="-s vote -v confidence --max-tokens 512 --concurrency 2"
$P eval -d 'arith:seed=1[0:20]' -n 4 -m qwen2.5-coder-1.5b $S -o runs/q15-arith-s1-vote4
$P eval -d 'arith[0:20]' -n 4 -m qwen2.5-coder-1.5b $S -o runs/q15-arith-s0-vote4
$P eval -d 'arith:seed=1[0:20]' -n 16 -m smollm2-135m $S -o runs/s135-arith-s1-vote16
# one step-search strategy on the 0.5B model (the model judging its own steps), as recipes/qwen1.5b-beam does
$P eval -d 'arith:seed=1[0:20]' -s beam -n 4 -v llm-prm --option width=2 --option step_tokens=96 --option max_steps=8 \
    -m qwen2.5-coder-0.5b --max-tokens 512 --concurrency 2 -o runs/q05-arith-s1-beam4
