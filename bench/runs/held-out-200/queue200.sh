#!/usr/bin/env bash
# Issues 11 and 12 on 200 generated problems (resumable: rerun it after any stop).
# One reporting set serves both: arith seed 3, the split issue 11's second table used (its first 20
# problems are logged already; a slice's first problems do not change as it grows). Nothing has been
# fitted on seed 3: the stop rule is fitted on seeds 0 and 1 (runs/stop-arith-answer.json), route on
# seed 0. The set grows in stages (60, 100, 140, 200) so that every stage leaves a complete table:
# SC@16 with the 0.5B model (issue 11's baseline, issue 12's small-model curve), `auto` with the
# fitted rule (sampled for real), the 1.5B model with vote@4 (issue 12's larger model).
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
