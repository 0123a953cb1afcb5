#!/usr/bin/env bash
# What is left of issue 11's held-out measurement, in order (resumable: rerun it after any stop).
# Restore the fitting split's log first (README.md here), then: nohup bash bench/runs/held-out-200/queue.sh &
set -x
P=.venv/bin/ponder
M="-m qwen2.5-coder-0.5b"
$P eval -d 'arith[0:30]' -s vote -n 16 -v confidence $M --max-tokens 512 --concurrency 2 -o runs/q05-arith-s0-vote16
$P eval -d 'arith:seed=1[0:20]' -s vote -n 16 -v confidence $M --max-tokens 512 --concurrency 2 -o runs/q05-arith-s1-vote16
$P fit-stop runs/q05-arith-s0-vote16 -o runs/stop-arith.json
$P eval -d 'arith:seed=1[0:20]' -s auto -n 16 --option rule=runs/stop-arith.json -v confidence $M --max-tokens 512 \
    --concurrency 8 -o runs/q05-arith-s1-auto
python bench/experiments/compute-where-it-pays/efficiency.py --fit runs/q05-arith-s0-vote16 --report runs/q05-arith-s1-vote16 --real runs/q05-arith-s1-auto
