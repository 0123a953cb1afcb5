#!/usr/bin/env bash
# Benchmark: `auto --option lookahead=L` for one question at a time (--concurrency 1, as `ponder ask`
# or a lone server request), Qwen2.5-Coder-0.5B embedded, on the first K problems of arith seed 3,
# against L = 0: per question (paired), its latency, samples and generated tokens; run it on an idle
# machine. The rule is issue 11's (bench/runs/heldout/stop-arith-answer.json; restore.sh puts it in runs/).
#   bash bench/experiments/compute-where-it-pays/lookahead.sh 10
set -euo pipefail
K=${1:-10}
PY=.venv/bin/python
OUT=/tmp/lookahead-$K
D="arith:seed=3[0:$K]"
for L in 0 2; do
    .venv/bin/ponder eval -d "$D" -s auto -n 16 --option rule=runs/stop-arith-answer.json --option lookahead=$L \
        -v confidence -m qwen2.5-coder-0.5b --max-tokens 512 --concurrency 1 -o "$OUT/auto-L$L"
done
$PY - "$OUT" <<'PYEOF'
import json, sys
from pathlib import Path
def load(L):
    recs = (json.loads(x) for x in Path(sys.argv[1], f"auto-L{L}", "log.jsonl").read_text().splitlines() if x.strip())
    return {r["problem_id"]: r for r in recs}
a, b = load(0), load(2)
ids = [i for i in a if i in b]
print("| question | level | L=0: samples, s, tokens | L=2: samples, s, tokens |")
print("|---|---|---|---|")
for i in ids:
    cells = [f"{len(r['candidates'])}, {r['usage']['wall_s']:.0f}, {r['usage']['completion_tokens']}" for r in (a[i], b[i])]
    print(f"| {i} | {a[i].get('level', '')} | {cells[0]} | {cells[1]} |")
for L, run in ((0, a), (2, b)):
    s = sum(run[i]["usage"]["wall_s"] for i in ids)
    t = sum(run[i]["usage"]["completion_tokens"] for i in ids)
    drops = [e for i in ids for e in run[i].get("trace") or [] if e.get("event") == "lookahead"]
    print(f"lookahead {L}: {s:.0f} s and {t} tokens over {len(ids)} questions; rounds dropped in flight on "
          f"{len(drops)} of them ({sum(e['dropped_tokens'] for e in drops)} tokens)")
PYEOF
