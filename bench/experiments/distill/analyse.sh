#!/usr/bin/env bash
# The distillation table from the committed logs (bench/runs/distill/, the base SC@16 in
# bench/runs/held-out-200/): base against distilled on 200 held-out questions, with paired bootstrap
# intervals and the questions after which distilling pays back. No model (light install); any directory:
#   bash bench/experiments/distill/analyse.sh arith [--limit K] [--plot out.png]
#   bash bench/experiments/distill/analyse.sh gsm8k
# Logs not committed yet (a step of queue.sh still to run) are left out of the table.
set -euo pipefail
cd "$(dirname "$0")/../../.."
SET=${1:?usage: analyse.sh arith|gsm8k [analyse.py options]}; shift
PY=${PYTHON:-.venv/bin/python}; [ -x "$PY" ] || PY=python3
D=bench/runs/distill
case $SET in
arith) sc16=bench/runs/held-out-200/q05-arith-s3-vote16; greedy=q05-arith-s3-greedy; models=(verified majority)
       auto=d-arith-verified-s3-auto; vote16=d-arith-verified-s3-vote16; stem=q05-arith
       base_auto=bench/runs/held-out-200/q05-arith-s3-auto; large=bench/runs/held-out-200/q15-arith-s3-vote4 ;;
gsm8k) sc16=bench/runs/held-out-200/q05-gsm8k-vote16; greedy=q05-gsm8k-greedy; models=(verified majority teacher)
       auto=d-gsm8k-verified-auto; vote16=d-gsm8k-verified-vote16; stem=q05-gsm8k
       base_auto=bench/runs/held-out-200/q05-gsm8k-auto; large=bench/runs/held-out-200/q15-gsm8k-vote4 ;;
*) echo "analyse.sh: SET must be arith or gsm8k, not '$SET'" >&2; exit 2 ;;
esac
args=(--set "$SET" --sc16 "$sc16" --auto "base=$base_auto" --compare "the 1.5B (3× the parameters): vote@4=$large")
[ -f "$D/$greedy.log.jsonl.gz" ] && args+=(--base-greedy "$D/$greedy")
for m in "${models[@]}"; do [ -f "$D/$stem-$m/distill.json" ] && args+=(--distilled "$m=$D/$stem-$m"); done
[ -f "$D/$auto.log.jsonl.gz" ] && args+=(--auto "distilled (verified)=$D/$auto")
[ -f "$D/$vote16.log.jsonl.gz" ] && args+=(--distilled-vote16 "verified=$D/$vote16")
exec "$PY" bench/experiments/distill/analyse.py "${args[@]}" "$@"
