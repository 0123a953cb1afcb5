#!/usr/bin/env bash
# Copy the growing logs in runs/ into this folder, compressed (the complete records only: a line still
# being written is left for the next snapshot), so a later session can resume them (restore.sh).
set -euo pipefail
cd "$(dirname "$0")/../../.."
for n in "$@"; do
    [ -f "runs/$n/log.jsonl" ] || { echo "runs/$n: no log" >&2; continue; }
    python3 -c 'import sys; d=open(sys.argv[1]).read(); sys.stdout.write(d[: d.rfind("\n") + 1])' \
        "runs/$n/log.jsonl" | gzip -9n > "bench/runs/held-out-200/$n.log.jsonl.gz"
    cp "runs/$n/run.json" "bench/runs/held-out-200/$n.run.json"
    echo "$n: $(zcat "bench/runs/held-out-200/$n.log.jsonl.gz" | wc -l) records"
done
