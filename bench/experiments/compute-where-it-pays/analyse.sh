#!/usr/bin/env bash
# The held-out tables of "compute where it pays": a stop rule, policies and pooled budgets replayed on
# self-consistency@16's logs and `auto` sampled for real, against SC@16, on 200 questions nothing was
# fitted on. Reads the committed logs (no model, light install); works in a temporary folder; runs
# from any directory:
#   bash bench/experiments/compute-where-it-pays/analyse.sh arith [K]   # arith seed 3, first K of 200
#   bash bench/experiments/compute-where-it-pays/analyse.sh gsm8k [K]   # GSM8K test, first K of 200
# LIVE=runs takes a log from runs/ instead where it has grown further (a run in progress).
set -euo pipefail
cd "$(dirname "$0")/../../.."
SET=${1:?usage: analyse.sh arith|gsm8k [K]}; K=${2:-200}
PY=${PYTHON:-.venv/bin/python}; [ -x "$PY" ] || PY=python3
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
live=(); [ -n "${LIVE:-}" ] && live=(--live "$LIVE")
R=$W/logs
$PY bench/lib/logs.py "$R" "${live[@]}" runs/heldout/q05-arith-s0-vote16 runs/heldout/q05-arith-s1-vote16 \
    runs/heldout/stop-arith-answer.json runs/heldout/policy-arith-p2.json runs/heldout/policy-arith-p4.json
RULE=$R/stop-arith-answer.json
eff() { $PY bench/experiments/compute-where-it-pays/efficiency.py "$@"; }
cut() { $PY bench/lib/cut_logs.py "$@" >/dev/null 2>"$W/cut.err" || { cat "$W/cut.err" >&2; exit 1; }; }
case $SET in
arith)
    $PY bench/lib/logs.py "$R" "${live[@]}" runs/held-out-200/q05-arith-s3-vote16 runs/held-out-200/q05-arith-s3-auto
    cut --slice "0:$K" --out "$W/k" "$R/q05-arith-s3-vote16" "$R/q05-arith-s3-auto"
    echo "## auto against SC@16 (rule fitted on seeds 0+1), first $K of arith seed 3"
    eff --report "$W/k/q05-arith-s3-vote16" --rule "$RULE" --real "$W/k/q05-arith-s3-auto" \
        --pool 0.2 --pool 0.25 --pool 0.3 --changes --threshold 0.99 --threshold 0.999
    eff --report "$W/k/q05-arith-s3-vote16" --rule "$RULE" --policy "$R/policy-arith-p2.json" | tail -1
    eff --report "$W/k/q05-arith-s3-vote16" --rule "$RULE" --policy "$R/policy-arith-p4.json" | tail -1
    [ "$K" -gt 100 ] || exit 0
    # a second reading with three times the fitting data: the rule fitted on seeds 0 and 1 and the first
    # 100 problems of this set (150 questions), reported on problems 100..K-1
    cut --slice 0:100 --out "$W/early" "$R/q05-arith-s3-vote16"
    cut --slice "100:$K" --out "$W/late" "$R/q05-arith-s3-vote16" "$R/q05-arith-s3-auto"
    fits=(--fit "$R/q05-arith-s0-vote16" --fit "$R/q05-arith-s1-vote16" --fit "$W/early/q05-arith-s3-vote16")
    echo "## problems 100..$((K-1)): rule fitted on 150 questions (seeds 0+1 and problems 0..99)"
    eff --report "$W/late/q05-arith-s3-vote16" --rule "$RULE" "${fits[@]}" --real "$W/late/q05-arith-s3-auto"
    echo "# the 150-question rule at other thresholds (its curve here; a threshold picked from it is hindsight)"
    eff --report "$W/late/q05-arith-s3-vote16" "${fits[@]}" \
        --threshold 0.9 --threshold 0.95 --threshold 0.97 --threshold 0.98 | tail -4
    ;;
gsm8k)
    $PY bench/lib/logs.py "$R" "${live[@]}" runs/held-out-200/q05-gsm8k-vote16 runs/held-out-200/q05-gsm8k-auto
    cut --slice "0:$K" --out "$W/k" "$R/q05-gsm8k-vote16" "$R/q05-gsm8k-auto"
    echo "## auto against SC@16 on GSM8K (rule fitted on arithmetic, seeds 0+1), first $K"
    eff --report "$W/k/q05-gsm8k-vote16" --rule "$RULE" --real "$W/k/q05-gsm8k-auto" --pool 0.2 --pool 0.3
    eff --report "$W/k/q05-gsm8k-vote16" --rule "$RULE" --policy "$R/policy-arith-p4.json" | tail -1
    echo "## rules and policies fitted on GSM8K itself, cross-fitted (each half scored by a fit on the other)"
    eff --report "$W/k/q05-gsm8k-vote16" --rule "$RULE" --crossfit --crossfit-policy 2 --crossfit-policy 4 \
        | grep -E "^\| (self-consistency|learned stop cross|stop-arith)"
    ;;
*) echo "analyse.sh: SET must be arith or gsm8k, not '$SET'" >&2; exit 2 ;;
esac
