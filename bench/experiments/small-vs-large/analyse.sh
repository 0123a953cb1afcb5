#!/usr/bin/env bash
# The held-out tables of "small model + compute against a larger model": the accuracy/FLOPs frontier
# of Qwen2.5-Coder-0.5B with samples against the 1.5B, `route` (fitted, reported on questions it never
# saw) and the agreement cascade, on 200 questions. Reads the committed logs (no model, light install);
# works in a temporary folder; runs from any directory:
#   bash bench/experiments/small-vs-large/analyse.sh arith [K]   # arith seed 3; route fitted on seeds 0+1
#   bash bench/experiments/small-vs-large/analyse.sh gsm8k [K]   # GSM8K test; route cross-fitted on halves
# Extra arguments after K go to frontier_heldout.py (e.g. --plot out.png). LIVE=runs takes a log from
# runs/ instead where it has grown further (a run in progress).
set -euo pipefail
cd "$(dirname "$0")/../../.."
SET=${1:?usage: analyse.sh arith|gsm8k [K] [frontier_heldout.py options]}; K=${2:-200}; shift; shift || true
PY=${PYTHON:-.venv/bin/python}; [ -x "$PY" ] || PY=python3
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
live=(); [ -n "${LIVE:-}" ] && live=(--live "$LIVE")
R=$W/logs
frontier() { $PY bench/experiments/small-vs-large/frontier_heldout.py "$@"; }
cut() { $PY bench/lib/cut_logs.py "$@" >/dev/null 2>"$W/cut.err" || { cat "$W/cut.err" >&2; exit 1; }; }
crossfit() {  # crossfit RUN...: fit the route on the even-indexed problems, report on the odd, and back
    for half in even odd; do cut --parity $half --out "$W/$half" "$@"; done
    for fit in even odd; do
        local rep args=()
        rep=$([ $fit = even ] && echo odd || echo even)
        echo "## route fitted on the $fit-indexed problems, reported on the $rep ones"
        for run in "$@"; do args+=(--fit "$W/$fit/$(basename "$run")" --report "$W/$rep/$(basename "$run")"); done
        frontier "${args[@]}" --probe 2 | sed -n '/^## Routing/,$p'
    done
}
case $SET in
arith)
    $PY bench/lib/logs.py "$R" "${live[@]}" runs/heldout/q05-arith-s0-vote16 runs/heldout/q05-arith-s1-vote16 \
        runs/frontier/q15-arith-s0-vote4 runs/frontier/q15-arith-s1-vote4 \
        runs/held-out-200/q05-arith-s3-vote16 runs/held-out-200/q15-arith-s3-vote4
    cut --slice "0:$K" --out "$W/k" "$R/q05-arith-s3-vote16" "$R/q15-arith-s3-vote4"
    fits=(--fit "$R/q05-arith-s0-vote16" --fit "$R/q05-arith-s1-vote16" --fit "$R/q15-arith-s0-vote4"
          --fit "$R/q15-arith-s1-vote4")
    echo "## 0.5B + samples against 1.5B, first $K of arith seed 3; route fitted on seeds 0+1"
    frontier "${fits[@]}" --report "$W/k/q05-arith-s3-vote16" --report "$W/k/q15-arith-s3-vote4" --probe 2 "$@"
    if [ "$K" -gt 100 ]; then
        cut --slice 0:100 --out "$W/early" "$R/q05-arith-s3-vote16" "$R/q15-arith-s3-vote4"
        cut --slice "100:$K" --out "$W/late" "$R/q05-arith-s3-vote16" "$R/q15-arith-s3-vote4"
        echo "## problems 100..$((K-1)): route fitted on 150 questions (seeds 0+1 and problems 0..99)"
        frontier "${fits[@]}" --fit "$W/early/q05-arith-s3-vote16" --fit "$W/early/q15-arith-s3-vote4" \
            --report "$W/late/q05-arith-s3-vote16" --report "$W/late/q15-arith-s3-vote4" --probe 2 \
            | sed -n '/^## Routing/,$p'
    fi
    crossfit "$W/k/q05-arith-s3-vote16" "$W/k/q15-arith-s3-vote4"
    ;;
gsm8k)
    $PY bench/lib/logs.py "$R" "${live[@]}" runs/held-out-200/q05-gsm8k-vote16 runs/held-out-200/q15-gsm8k-vote4
    cut --slice "0:$K" --out "$W/k" "$R/q05-gsm8k-vote16" "$R/q15-gsm8k-vote4"
    small=$W/k/q05-gsm8k-vote16 large=$W/k/q15-gsm8k-vote4
    echo "## 0.5B + samples against 1.5B, first $K of GSM8K test"
    frontier --report "$small" --report "$large" "$@"
    echo "## by difficulty for the 0.5B (its last 4 samples set the level and are not scored), routing ceiling"
    frontier --report "$small" --report "$large" --difficulty "$small" --held-back 4 | sed -n '/^## Smaller models/,$p'
    crossfit "$small" "$large"
    echo "## the agreement cascade (nothing fitted): agreeing 0.5B probes kept, the rest to the 1.5B"
    $PY bench/experiments/small-vs-large/cascade.py --small "$small" --large "$large" --probe 2 --probe 3
    ;;
*) echo "analyse.sh: SET must be arith or gsm8k, not '$SET'" >&2; exit 2 ;;
esac
