#!/usr/bin/env bash
# Issue 12's routing on one set, cross-fitted: the problems with an even index (the number that ends
# the problem id) fit the route table and the odd ones report it, then the other way round, so each
# table is reported on questions its route never saw and every question is reported once.
#   bash bench/runs/held-out-200/crossfit.sh K RUN...   e.g. crossfit.sh 60 runs/q05-arith-s3-vote16 runs/q15-arith-s3-vote4
# Only the first K problems (index < K) are used. Halves are written under /tmp/xfit-K/ (bench/lib/cut_logs.py).
set -euo pipefail
K=${1:?usage: crossfit.sh K RUN...}; shift
PY=.venv/bin/python
OUT=/tmp/xfit-$K
for half in even odd; do $PY bench/lib/cut_logs.py --slice "0:$K" --parity $half --out "$OUT/$half" "$@"; done
for fit in even odd; do
    rep=$([ $fit = even ] && echo odd || echo even)
    echo "## route fitted on the $fit-indexed problems, reported on the $rep ones"
    args=()
    for run in "$@"; do args+=(--fit "$OUT/$fit/$(basename "$run")" --report "$OUT/$rep/$(basename "$run")"); done
    $PY bench/experiments/small-vs-large/frontier_heldout.py "${args[@]}" --probe 2 | sed -n '/^## Routing/,$p'
done
