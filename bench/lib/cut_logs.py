"""Copy eval runs restricted to some of their problems, so that benchmarks that read whole runs
(`efficiency.py`, `frontier_heldout.py`) can fit on one part of a logged set and report on another.

A problem's index is the number that ends its id (`arith-s3-L2-41` → 41, `gsm8k-7` → 7), its position
in the dataset; a slice of a dataset keeps those positions, so the parts of a set that grew in stages
are the same problems in every run. Each RUN is copied to OUT/<RUN's name>/ (its `run.json` and the
kept lines of its `log.jsonl`, byte for byte).

    python bench/lib/cut_logs.py --slice 100:200 --out /tmp/late runs/q05-arith-s3-vote16 runs/q05-arith-s3-auto
    python bench/lib/cut_logs.py --slice 0:100 --parity even --out /tmp/even runs/q05-gsm8k-vote16
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path


def index(problem_id: str) -> int:
    m = re.search(r"(\d+)$", problem_id)
    if m is None:
        raise SystemExit(f"problem_id {problem_id!r} does not end in its index")
    return int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="run folders (run.json + log.jsonl)")
    ap.add_argument("--out", required=True, help="folder to write the cut runs into")
    ap.add_argument("--slice", default=":", help="START:STOP of problem indices to keep (default all)")
    ap.add_argument("--parity", choices=("even", "odd"), help="keep only even or odd indices")
    args = ap.parse_args()
    try:
        lo_s, hi_s = args.slice.split(":")
        lo, hi = int(lo_s or 0), (int(hi_s) if hi_s else None)
    except ValueError:
        ap.error(f"--slice {args.slice!r}: expected START:STOP, e.g. 100:200")

    def keep(i: int) -> bool:
        return lo <= i and (hi is None or i < hi) and (args.parity is None or i % 2 == (args.parity == "odd"))

    for run in map(Path, args.runs):
        dst = Path(args.out, run.name)
        dst.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run / "run.json", dst / "run.json")
        log = run / "log.jsonl"  # a run that has started but logged nothing yet has none
        lines = [line for line in (log.read_text() if log.exists() else "").splitlines(keepends=True)
                 if line.endswith("\n") and line.strip()  # a line still being written is not a record yet
                 and keep(index(json.loads(line)["problem_id"]))]
        (dst / "log.jsonl").write_text("".join(lines))
        print(f"{dst}: {len(lines)} problems", file=sys.stderr)


if __name__ == "__main__":
    main()
