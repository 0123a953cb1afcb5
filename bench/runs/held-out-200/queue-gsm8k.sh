#!/usr/bin/env bash
# Issues 11 and 12 on 200 GSM8K test problems (resumable: rerun it after any stop). The reporting set
# is `gsm8k` (the test split's first 200, --limit). Nothing is fitted on it for issue 11: `auto` uses
# the stop rule fitted on generated arithmetic (runs/stop-arith-answer.json, seeds 0+1), so GSM8K is
# a set the rule never saw, of another kind. Issue 12's route table is cross-fitted on it (fitted on
# one half, reported on the other, then the other way round: bench/experiments/small-vs-large/frontier_heldout.py on cut logs).
# The set grows in stages (50, 100, 150, 200; --limit is not part of a run's identity) so every stage
# leaves a complete table: SC@16 with the 0.5B model and vote@4 with the 1.5B (~30 s a question) at every stage; `auto`
# with the arith rule (sampled for real) to 100 first and to 200 last: its stop decisions replay
# exactly on the SC@16 log, so the real run only adds what answer stop changes, and on GSM8K it costs
# 0.7x of SC@16's time (hard questions do not settle).
set -x
P=.venv/bin/ponder
M="--max-tokens 512 -v confidence"
auto() {
    $P eval -d gsm8k --limit "$1" -s auto -n 16 --option rule=runs/stop-arith-answer.json -m qwen2.5-coder-0.5b $M \
        --concurrency 8 -o runs/q05-gsm8k-auto
}
for n in 50 100 150 200; do
    $P eval -d gsm8k --limit $n -s vote -n 16 -m qwen2.5-coder-0.5b $M --concurrency 2 -o runs/q05-gsm8k-vote16
    $P eval -d gsm8k --limit $n -s vote -n 4 -m qwen2.5-coder-1.5b $M --concurrency 2 -o runs/q15-gsm8k-vote4
    if [ $n -le 100 ]; then auto $n; fi
done
auto 150
auto 200
