#!/usr/bin/env bash
# Copy growing logs from runs/ into a committed folder, compressed (complete records only: a line still
# being written is left for the next snapshot), so that a later session can resume them:
#   bash bench/lib/snapshot.sh bench/runs/held-out-200 q05-gsm8k-vote16 q05-gsm8k-auto
# and, in that session, `python bench/lib/logs.py runs --live runs runs/held-out-200/q05-gsm8k-vote16`.
set -euo pipefail
DEST=${1:?usage: snapshot.sh DEST NAME...}; shift
cd "$(dirname "$0")/../.."
mkdir -p "$DEST"
. bench/lib/complete.sh
for n in "$@"; do
    [ -f "runs/$n/log.jsonl" ] || { echo "runs/$n: no log" >&2; continue; }
    complete_log "runs/$n/log.jsonl" "$DEST/$n.log.jsonl.gz"
    cp "runs/$n/run.json" "$DEST/$n.run.json"
    echo "$n: $(zcat "$DEST/$n.log.jsonl.gz" | wc -l) records"
done
