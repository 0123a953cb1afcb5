#!/usr/bin/env bash
# How this folder's seed-3 logs were made (compute where it pays, second held-out reading). The stop
# rule's target was changed to `answer` after the seed-1 reading showed the `outcome` rule failing, so
# the changed rule is fitted on seeds 0 and 1 and reported on a split nothing has seen: arith seed 3.
# DeepConf online (keep 90% and 10%, warm-up 4) is sampled for real on the same split. Resumable.
set -x
P=.venv/bin/ponder
M="-m qwen2.5-coder-0.5b --max-tokens 512"
$P eval -d 'arith:seed=3[0:20]' -s vote -n 16 -v confidence $M --concurrency 2 -o runs/q05-arith-s3-vote16
$P fit-stop runs/q05-arith-s0-vote16 runs/q05-arith-s1-vote16 --target answer -o runs/stop-arith-answer.json
$P eval -d 'arith:seed=3[0:20]' -s auto -n 16 --option rule=runs/stop-arith-answer.json -v confidence $M \
    --concurrency 8 -o runs/q05-arith-s3-auto
$P eval -d 'arith:seed=3[0:20]' -s deepconf -n 16 --option keep=0.9 $M --concurrency 2 -o runs/q05-arith-s3-deepconf90
$P eval -d 'arith:seed=3[0:20]' -s deepconf -n 16 --option keep=0.1 $M --concurrency 2 -o runs/q05-arith-s3-deepconf10
