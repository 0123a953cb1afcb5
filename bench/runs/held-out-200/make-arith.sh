#!/usr/bin/env bash
# How this folder's arith logs were made: 200 generated problems (arith seed 3) that nothing was fitted
# on, serving both experiments (compute where it pays; small vs large). The stop rule is fitted on
# seeds 0 and 1 (../heldout/stop-arith-answer.json), route on seeds 0 and 1. The set grew in stages
# (60, 100, 140, 200) so that every stage left a complete table (a slice's first problems do not
# change as it grows): SC@16 and `auto` with the 0.5B model, vote@4 with the 1.5B. Resumable: first
#   python bench/lib/logs.py runs --live runs runs/held-out-200/q05-arith-s3-vote16 \
#       runs/held-out-200/q05-arith-s3-auto runs/held-out-200/q15-arith-s3-vote4 runs/heldout/stop-arith-answer.json
set -x
P=.venv/bin/ponder
M="-m qwen2.5-coder-0.5b --max-tokens 512"
grow() {  # grow RUN_DIR SLICE: point an existing run at a larger slice of the same set
    [ -f "$1/run.json" ] || return 0
    .venv/bin/python -c 'import json,sys; p=sys.argv[1]+"/run.json"; d=json.load(open(p)); d["dataset"]=sys.argv[2]; json.dump(d,open(p,"w"),indent=2)' "$1" "$2"
}
for n in 60 100 140 200; do
    D="arith:seed=3[0:$n]"
    grow runs/q05-arith-s3-vote16 "$D"; grow runs/q05-arith-s3-auto "$D"; grow runs/q15-arith-s3-vote4 "$D"
    $P eval -d "$D" -s vote -n 16 -v confidence $M --concurrency 2 -o runs/q05-arith-s3-vote16
    $P eval -d "$D" -s auto -n 16 --option rule=runs/stop-arith-answer.json -v confidence $M \
        --concurrency 8 -o runs/q05-arith-s3-auto
    $P eval -d "$D" -s vote -n 4 -v confidence -m qwen2.5-coder-1.5b --max-tokens 512 --concurrency 2 \
        -o runs/q15-arith-s3-vote4
done
