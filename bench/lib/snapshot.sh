#!/usr/bin/env bash
# Copy growing logs from runs/ into a committed folder, compressed (complete records only: a line still
# being written is left for the next snapshot), so that a later session can resume them:
#   bash bench/lib/snapshot.sh bench/runs/held-out-200 q05-gsm8k-vote16 q05-gsm8k-auto
# and, in that session, `python bench/lib/logs.py runs --live runs runs/held-out-200/q05-gsm8k-vote16`.
set -euo pipefail
DEST=${1:?usage: snapshot.sh DEST NAME...}; shift
cd "$(dirname "$0")/../.."
mkdir -p "$DEST"
for n in "$@"; do
    [ -f "runs/$n/log.jsonl" ] || { echo "runs/$n: no log" >&2; continue; }
    python3 -c 'import sys; d=open(sys.argv[1]).read(); sys.stdout.write(d[: d.rfind("\n") + 1])' \
        "runs/$n/log.jsonl" | gzip -9n > "$DEST/$n.log.jsonl.gz"
    cp "runs/$n/run.json" "$DEST/$n.run.json"
    echo "$n: $(zcat "$DEST/$n.log.jsonl.gz" | wc -l) records"
done
