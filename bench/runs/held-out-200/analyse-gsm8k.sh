#!/usr/bin/env bash
# Tables of issues 11 and 12 on the first K GSM8K test problems (queue-gsm8k.sh's logs), at whatever
# stage the logs have reached: `bash bench/runs/held-out-200/analyse-gsm8k.sh 50`. Each log is cut to the
# same first K problems (bench/lib/cut_logs.py) in /tmp/gsm8k-K/ so every table pairs the same questions.
# Issue 11's main reading fits nothing on GSM8K (the stop rule is arithmetic's, seeds 0+1); its second
# reading cross-fits a rule on GSM8K's halves (answer and outcome targets; and a policy under the arith
# rule), pooled over both halves (bench/experiments/compute-where-it-pays/efficiency.py --crossfit), as issue 12's
# route is cross-fitted on even and odd halves (crossfit.sh), since GSM8K has no separate fitting split.
set -euo pipefail
K=${1:?usage: analyse-gsm8k.sh K}
PY=.venv/bin/python
OUT=/tmp/gsm8k-$K
runs=()
for run in q05-gsm8k-vote16 q05-gsm8k-auto q15-gsm8k-vote4; do
    if [ -s "runs/$run/log.jsonl" ]; then runs+=("runs/$run"); else echo "$run: not started" >&2; fi
done
$PY bench/lib/cut_logs.py --slice "0:$K" --out "$OUT" "${runs[@]}"
echo "## issue 11: auto against SC@16 on GSM8K (rule fitted on arithmetic, seeds 0+1)"
real=()
[ -f "$OUT/q05-gsm8k-auto/run.json" ] && real=(--real "$OUT/q05-gsm8k-auto")
$PY bench/experiments/compute-where-it-pays/efficiency.py --report "$OUT/q05-gsm8k-vote16" --rule runs/stop-arith-answer.json "${real[@]}" \
    --pool 0.2 --pool 0.3
$PY bench/experiments/compute-where-it-pays/efficiency.py --report "$OUT/q05-gsm8k-vote16" --rule runs/stop-arith-answer.json \
    --policy runs/policy-arith-p4.json | tail -1
echo "## issue 11, a second reading: rules and policies fitted on GSM8K itself, cross-fitted (each half scored by a fit on the other)"
$PY bench/experiments/compute-where-it-pays/efficiency.py --report "$OUT/q05-gsm8k-vote16" --rule runs/stop-arith-answer.json --crossfit \
    --crossfit-policy 2 --crossfit-policy 4 | grep -E "^\| (self-consistency|learned stop cross|stop-arith)"
echo "## issue 12: 0.5B + samples against 1.5B on GSM8K"
if [ -f "$OUT/q15-gsm8k-vote4/run.json" ]; then
    $PY bench/experiments/small-vs-large/frontier_heldout.py --report "$OUT/q05-gsm8k-vote16" --report "$OUT/q15-gsm8k-vote4" "${@:2}"
    echo "## issue 12 by difficulty for the 0.5B (its last 4 samples set the level and are not scored), routing ceiling"
    $PY bench/experiments/small-vs-large/frontier_heldout.py --report "$OUT/q05-gsm8k-vote16" --report "$OUT/q15-gsm8k-vote4" \
        --difficulty "$OUT/q05-gsm8k-vote16" --held-back 4 | sed -n '/^## Smaller models/,$p'
    bash bench/runs/held-out-200/crossfit.sh "$K" "$OUT/q05-gsm8k-vote16" "$OUT/q15-gsm8k-vote4"
    echo "## issue 12: the agreement cascade (no fitting): agreeing 0.5B probes kept, the rest to the 1.5B"
    $PY bench/experiments/small-vs-large/cascade.py --small "$OUT/q05-gsm8k-vote16" --large "$OUT/q15-gsm8k-vote4" --probe 2 --probe 3
fi
