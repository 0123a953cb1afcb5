#!/usr/bin/env bash
# Sample the training sets that `ponder distill` learns from (resumable: rerun to continue).
# Problems disjoint from every reported set: arith seed 10 and GSM8K's train split; the reported
# sets are arith seed 3 and GSM8K's first 200 test problems.
#   bash bench/experiments/distill/sample.sh [RUNS_DIR]     (default runs/distill)
set -euo pipefail
cd "$(dirname "$0")/../../.."
RUNS=${1:-runs/distill}
P=.venv/bin/ponder
common=(--strategy vote --temperature 0.7 --max-tokens 512 --concurrency 2)
$P eval -d 'arith:seed=10[0:200]' -n 8 -m qwen2.5-coder-0.5b "${common[@]}" -o "$RUNS/q05-arith-s10-vote8"
$P eval -d 'gsm8k-train[0:300]' -n 8 -m qwen2.5-coder-0.5b "${common[@]}" -o "$RUNS/q05-gsm8k-train-vote8"
