#!/usr/bin/env bash
# How this folder's GSM8K logs were made: the test split's first 200 (--limit; resumable, rerun after
# any stop). Nothing is fitted on it for the stopping experiment: `auto` uses the stop rule fitted on
# generated arithmetic (../heldout/stop-arith-answer.json, seeds 0+1), so GSM8K is a set of another
# kind the rule never saw. The route table is cross-fitted on it (one half fits, the other reports).
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
