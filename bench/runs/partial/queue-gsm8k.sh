#!/usr/bin/env bash
# Issues 11 and 12 on 200 GSM8K test problems (resumable: rerun it after any stop). The reporting set
# is `gsm8k` (the test split's first 200, --limit). Nothing is fitted on it for issue 11: `auto` uses
# the stop rule fitted on generated arithmetic (runs/stop-arith-answer.json, seeds 0+1), so GSM8K is
# a set the rule never saw, of another kind. Issue 12's route table is cross-fitted on it (fitted on
# one half, reported on the other, then the other way round: bench/frontier_heldout.py on cut logs).
# The set grows in stages (50, 100, 150, 200; --limit is not part of a run's identity) so every stage
# leaves a complete table: SC@16 with the 0.5B model, `auto` with the arith rule, vote@4 with the 1.5B.
set -x
P=.venv/bin/ponder
M="--max-tokens 512 -v confidence"
for n in 50 100 150 200; do
    $P eval -d gsm8k --limit $n -s vote -n 16 -m qwen2.5-coder-0.5b $M --concurrency 2 -o runs/q05-gsm8k-vote16
    $P eval -d gsm8k --limit $n -s auto -n 16 --option rule=runs/stop-arith-answer.json -m qwen2.5-coder-0.5b $M \
        --concurrency 8 -o runs/q05-gsm8k-auto
    $P eval -d gsm8k --limit $n -s vote -n 4 -m qwen2.5-coder-1.5b $M --concurrency 2 -o runs/q15-gsm8k-vote4
done
