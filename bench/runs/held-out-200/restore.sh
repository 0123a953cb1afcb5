#!/usr/bin/env bash
# Restore everything queue200.sh, queue-gsm8k.sh and analyse200.sh read into runs/ (git-ignored), from
# the committed logs: the growing logs from this folder, the fitting logs of seeds 0 and 1, and the
# rule and policy files. Leaves alone a log in runs/ at least as long as the committed one; run it before
# the queue, not beside it.
set -euo pipefail
cd "$(dirname "$0")/../../.."
restore() {  # restore FOLDER NAME
    local src=bench/runs/$1/$2 dst=runs/$2
    [ -f "$src.log.jsonl.gz" ] || return 0
    mkdir -p "$dst"
    local have=0 want
    want=$(zcat "$src.log.jsonl.gz" | wc -l)
    [ -f "$dst/log.jsonl" ] && have=$(wc -l < "$dst/log.jsonl")
    if [ "$have" -ge "$want" ]; then echo "$dst: keeps its $have records (committed: $want)"; return 0; fi
    zcat "$src.log.jsonl.gz" > "$dst/log.jsonl"
    cp "$src.run.json" "$dst/run.json"
    echo "$dst: $want records"
}
for n in q05-arith-s3-vote16 q05-arith-s3-auto q15-arith-s3-vote4 q05-gsm8k-vote16 q05-gsm8k-auto q15-gsm8k-vote4; do
    restore partial "$n"
done
for n in q05-arith-s0-vote16 q05-arith-s1-vote16; do restore heldout "$n"; done
for n in q15-arith-s0-vote4 q15-arith-s1-vote4; do restore frontier "$n"; done
cp bench/runs/heldout/stop-arith-answer.json bench/runs/heldout/policy-arith-p2.json \
    bench/runs/heldout/policy-arith-p4.json runs/
