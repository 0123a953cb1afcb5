#!/usr/bin/env bash
# Tables of issues 11 and 12 on the first K GSM8K test problems (queue-gsm8k.sh's logs), at whatever
# stage the logs have reached: `bash bench/runs/partial/analyse-gsm8k.sh 50`. Each log is cut to the
# same first K problems (bench/cut_logs.py) in /tmp/gsm8k-K/ so every table pairs the same questions.
# Issue 11's main reading fits nothing on GSM8K (the stop rule is arithmetic's, seeds 0+1); its second
# reading cross-fits a rule on GSM8K's halves (answer and outcome targets), as issue 12's
# route is cross-fitted on even and odd halves (crossfit.sh), since GSM8K has no separate fitting split.
set -euo pipefail
K=${1:?usage: analyse-gsm8k.sh K}
PY=.venv/bin/python
OUT=/tmp/gsm8k-$K
runs=()
for run in q05-gsm8k-vote16 q05-gsm8k-auto q15-gsm8k-vote4; do
    if [ -f "runs/$run/run.json" ]; then runs+=("runs/$run"); else echo "$run: not started" >&2; fi
done
$PY bench/cut_logs.py --slice "0:$K" --out "$OUT" "${runs[@]}"
echo "## issue 11: auto against SC@16 on GSM8K (rule fitted on arithmetic, seeds 0+1)"
real=()
[ -f "$OUT/q05-gsm8k-auto/run.json" ] && real=(--real "$OUT/q05-gsm8k-auto")
$PY bench/efficiency.py --report "$OUT/q05-gsm8k-vote16" --rule runs/stop-arith-answer.json "${real[@]}" \
    --pool 0.2 --pool 0.3
$PY bench/efficiency.py --report "$OUT/q05-gsm8k-vote16" --rule runs/stop-arith-answer.json \
    --policy runs/policy-arith-p4.json | tail -1
echo "## issue 11, a second reading: the rule fitted on GSM8K itself, cross-fitted (one half fits, the other reports)"
for half in even odd; do $PY bench/cut_logs.py --slice "0:$K" --parity $half --out "$OUT/stop-$half" "runs/q05-gsm8k-vote16"; done
for fit in even odd; do
    rep=$([ $fit = even ] && echo odd || echo even)
    for target in answer outcome; do
        echo "# fitted on the $fit-indexed problems (target $target), reported on the $rep ones"
        $PY bench/efficiency.py --fit "$OUT/stop-$fit/q05-gsm8k-vote16" --report "$OUT/stop-$rep/q05-gsm8k-vote16" \
            --target $target | grep -E "^\| (self-consistency|oracle bound: stop when the majority|learned stop)"
    done
done
echo "## issue 11, allocation across questions: the arith rule under a policy cross-fitted on GSM8K's halves"
for fit in even odd; do
    rep=$([ $fit = even ] && echo odd || echo even)
    for probe in 2 4; do
        .venv/bin/ponder fit-policy "$OUT/stop-$fit/q05-gsm8k-vote16" --probe $probe -o "$OUT/policy-$fit-p$probe.json" >/dev/null
        echo "# policy fitted on the $fit-indexed problems (probe $probe), reported on the $rep ones"
        $PY bench/efficiency.py --report "$OUT/stop-$rep/q05-gsm8k-vote16" --rule runs/stop-arith-answer.json \
            --policy "$OUT/policy-$fit-p$probe.json" | grep -E "^\| (self-consistency|learned stop)"
    done
done
echo "## issue 12: 0.5B + samples against 1.5B on GSM8K"
if [ -f "$OUT/q15-gsm8k-vote4/run.json" ]; then
    $PY bench/frontier_heldout.py --report "$OUT/q05-gsm8k-vote16" --report "$OUT/q15-gsm8k-vote4" "${@:2}"
    echo "## issue 12 by difficulty for the 0.5B (its last 4 samples set the level and are not scored), routing ceiling"
    $PY bench/frontier_heldout.py --report "$OUT/q05-gsm8k-vote16" --report "$OUT/q15-gsm8k-vote4" \
        --difficulty "$OUT/q05-gsm8k-vote16" --held-back 4 | sed -n '/^## Smaller models/,$p'
    bash bench/runs/partial/crossfit.sh "$K" "$OUT/q05-gsm8k-vote16" "$OUT/q15-gsm8k-vote4"
fi
