#!/usr/bin/env bash
# Commit the evidence of the distillation experiment, never the weights, under bench/runs/distill/:
# an eval log (runs/distill/NAME/log.jsonl) as NAME.log.jsonl.gz + NAME.run.json; a `ponder distill`
# output folder as NAME/ with distill.json and, per round, the selection and training data, the
# training record (FLOPs, losses) and the greedy evaluation as round-K/eval.log.jsonl.gz. Only complete
# log lines are copied, so a run still writing can be snapshotted and resumed later.
#   bash bench/experiments/distill/commit.sh q05-arith-s10-vote8 q05-arith-verified q05-arith-s3-greedy
set -euo pipefail
cd "$(dirname "$0")/../../.."
D=bench/runs/distill
mkdir -p "$D"
. bench/lib/complete.sh
for n in "$@"; do
    src=runs/distill/$n
    if [ -f "$src/distill.json" ]; then
        rm -rf "${D:?}/$n"; mkdir -p "$D/$n"
        cp "$src/distill.json" "$D/$n/"
        for r in "$src"/round-*; do
            k=$(basename "$r"); mkdir -p "$D/$n/$k/train" "$D/$n/$k/data"
            cp "$r/data/selection.json" "$D/$n/$k/data/"
            for f in train val; do gzip -9nc "$r/data/$f.jsonl" > "$D/$n/$k/data/$f.jsonl.gz"; done
            for f in train.json val_before.json; do [ -f "$r/train/$f" ] && cp "$r/train/$f" "$D/$n/$k/train/"; done
            if [ -f "$r/eval/log.jsonl" ]; then
                complete_log "$r/eval/log.jsonl" "$D/$n/$k/eval.log.jsonl.gz"; cp "$r/eval/run.json" "$D/$n/$k/eval.run.json"
            fi
        done
        echo "$n: $(ls -d "$D/$n"/round-* | wc -l) round(s)"
    elif [ -f "$src/log.jsonl" ]; then
        complete_log "$src/log.jsonl" "$D/$n.log.jsonl.gz"; cp "$src/run.json" "$D/$n.run.json"
        echo "$n: $(zcat "$D/$n.log.jsonl.gz" | wc -l) records"
    else
        echo "$src: neither a distill folder nor a run" >&2; exit 1
    fi
done
