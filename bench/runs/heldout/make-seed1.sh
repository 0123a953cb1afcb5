#!/usr/bin/env bash
# How this folder's seed-0 and seed-1 logs were made (compute where it pays, first held-out reading):
# SC@16 with Qwen2.5-Coder-0.5B on the fitting split (arith seed 0) and a reporting split (seed 1), a
# stop rule fitted on seed 0, `auto` with it on seed 1. Resumable: rerun it after any stop, from the
# repository root, after `python bench/lib/logs.py runs --live runs runs/heldout/q05-arith-s0-vote16`.
set -x
P=.venv/bin/ponder
M="-m qwen2.5-coder-0.5b"
$P eval -d 'arith[0:30]' -s vote -n 16 -v confidence $M --max-tokens 512 --concurrency 2 -o runs/q05-arith-s0-vote16
$P eval -d 'arith:seed=1[0:20]' -s vote -n 16 -v confidence $M --max-tokens 512 --concurrency 2 -o runs/q05-arith-s1-vote16
$P fit-stop runs/q05-arith-s0-vote16 -o runs/stop-arith.json
$P eval -d 'arith:seed=1[0:20]' -s auto -n 16 --option rule=runs/stop-arith.json -v confidence $M --max-tokens 512 \
    --concurrency 8 -o runs/q05-arith-s1-auto
python bench/experiments/compute-where-it-pays/efficiency.py --fit runs/q05-arith-s0-vote16 --report runs/q05-arith-s1-vote16 --real runs/q05-arith-s1-auto
