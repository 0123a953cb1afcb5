#!/usr/bin/env bash
# Issue 12's routing on one set, cross-fitted: the problems with an even index (the number that ends
# the problem id) fit the route table and the odd ones report it, then the other way round, so each
# table is reported on questions its route never saw and every question is reported once.
#   bash bench/runs/partial/crossfit.sh K RUN...   e.g. crossfit.sh 60 runs/q05-arith-s3-vote16 runs/q15-arith-s3-vote4
# Only the first K problems (index < K) are used. Halves are written under /tmp/xfit-K/.
set -euo pipefail
K=${1:?usage: crossfit.sh K RUN...}; shift
PY=.venv/bin/python
OUT=/tmp/xfit-$K
for run in "$@"; do
    for half in even odd; do
        mkdir -p "$OUT/$half/$(basename "$run")"
        cp "$run/run.json" "$OUT/$half/$(basename "$run")/run.json"
    done
    $PY - "$run" "$K" "$OUT" <<'PYEOF'
import json, re, sys
from pathlib import Path
run, k, out = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
halves = {"even": [], "odd": []}
for line in open(run / "log.jsonl"):
    if not line.strip():
        continue
    i = int(re.search(r"(\d+)$", json.loads(line)["problem_id"]).group(1))
    if i < k:
        halves["even" if i % 2 == 0 else "odd"].append(line)
for half, lines in halves.items():
    Path(out, half, run.name, "log.jsonl").write_text("".join(lines))
print(f"{run.name}: {len(halves['even'])} even, {len(halves['odd'])} odd", file=sys.stderr)
PYEOF
done
for fit in even odd; do
    rep=$([ $fit = even ] && echo odd || echo even)
    echo "## route fitted on the $fit-indexed problems, reported on the $rep ones"
    args=()
    for run in "$@"; do args+=(--fit "$OUT/$fit/$(basename "$run")" --report "$OUT/$rep/$(basename "$run")"); done
    $PY bench/frontier_heldout.py "${args[@]}" --probe 2 | sed -n '/^## Routing/,$p'
done
