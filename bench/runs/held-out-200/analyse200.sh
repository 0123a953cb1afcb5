#!/usr/bin/env bash
# Tables of issues 11 and 12 on the first K problems of the 200-problem set (queue200.sh's logs), at
# whatever stage the logs have reached: `bash bench/runs/held-out-200/analyse200.sh 60`. Each log is cut
# to the same first K problems (bench/lib/cut_logs.py) in /tmp/s3-K/ so every table pairs the same questions.
set -euo pipefail
K=${1:?usage: analyse200.sh K}
PY=.venv/bin/python
OUT=/tmp/s3-$K
runs=()
for run in q05-arith-s3-vote16 q05-arith-s3-auto q15-arith-s3-vote4; do
    if [ -f "runs/$run/run.json" ]; then runs+=("runs/$run"); else echo "$run: not started" >&2; fi
done
$PY bench/lib/cut_logs.py --slice "0:$K" --out "$OUT" "${runs[@]}"
echo "## issue 11: auto against SC@16 (rule fitted on seeds 0+1)"
$PY bench/experiments/compute-where-it-pays/efficiency.py --report "$OUT/q05-arith-s3-vote16" --rule runs/stop-arith-answer.json \
    --real "$OUT/q05-arith-s3-auto" --pool 0.2 --pool 0.25 --pool 0.3 --changes --threshold 0.99 --threshold 0.999
$PY bench/experiments/compute-where-it-pays/efficiency.py --report "$OUT/q05-arith-s3-vote16" --rule runs/stop-arith-answer.json \
    --policy runs/policy-arith-p2.json | tail -1
$PY bench/experiments/compute-where-it-pays/efficiency.py --report "$OUT/q05-arith-s3-vote16" --rule runs/stop-arith-answer.json \
    --policy runs/policy-arith-p4.json | tail -1
echo "## issue 12: 0.5B + samples against 1.5B, route fitted on seeds 0+1"
$PY bench/experiments/small-vs-large/frontier_heldout.py --fit runs/q05-arith-s0-vote16 --fit runs/q05-arith-s1-vote16 \
    --fit runs/q15-arith-s0-vote4 --fit runs/q15-arith-s1-vote4 \
    --report "$OUT/q05-arith-s3-vote16" --report "$OUT/q15-arith-s3-vote4" --probe 2 "${@:2}"
[ "$K" -gt 100 ] || exit 0
# A second reading of both issues with three times the fitting data: the rule and the route fitted on
# seeds 0 and 1 and the first 100 problems of this set (150 questions), reported on problems 100..K-1.
$PY bench/lib/cut_logs.py --slice 0:100 --out "$OUT/early" "${runs[@]}"
$PY bench/lib/cut_logs.py --slice "100:$K" --out "$OUT/late" "${runs[@]}"
echo "## issue 11 on problems 100..$((K-1)): rule fitted on 150 questions (seeds 0+1 and problems 0..99)"
$PY bench/experiments/compute-where-it-pays/efficiency.py --report "$OUT/late/q05-arith-s3-vote16" --rule runs/stop-arith-answer.json \
    --fit runs/q05-arith-s0-vote16 --fit runs/q05-arith-s1-vote16 --fit "$OUT/early/q05-arith-s3-vote16" \
    --real "$OUT/late/q05-arith-s3-auto"
echo "# the 150-question rule at other thresholds (its curve on these problems; a threshold picked from it is hindsight)"
$PY bench/experiments/compute-where-it-pays/efficiency.py --report "$OUT/late/q05-arith-s3-vote16" \
    --fit runs/q05-arith-s0-vote16 --fit runs/q05-arith-s1-vote16 --fit "$OUT/early/q05-arith-s3-vote16" \
    --threshold 0.9 --threshold 0.95 --threshold 0.97 --threshold 0.98 | tail -4
echo "## issue 12 on problems 100..$((K-1)): route fitted on 150 questions"
$PY bench/experiments/small-vs-large/frontier_heldout.py --fit runs/q05-arith-s0-vote16 --fit runs/q05-arith-s1-vote16 \
    --fit "$OUT/early/q05-arith-s3-vote16" --fit runs/q15-arith-s0-vote4 --fit runs/q15-arith-s1-vote4 \
    --fit "$OUT/early/q15-arith-s3-vote4" \
    --report "$OUT/late/q05-arith-s3-vote16" --report "$OUT/late/q15-arith-s3-vote4" --probe 2 \
    | sed -n '/^## Routing/,$p'
