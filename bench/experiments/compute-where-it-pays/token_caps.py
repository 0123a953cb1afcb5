"""Would a per-difficulty `max_tokens` save tokens? Replayed on self-consistency logs, an upper bound.

Issue 11 asks for per-difficulty `max_tokens` from the policy. Before building it, this measures the
most it could give: each question's difficulty bin is taken *in hindsight* (from how many of its own
logged samples are right, as `fit-policy` labels them, so no prediction error), and every sample of a
bin is cut at a cap. A cut sample keeps the share of its text that the cap allows (text length ×
cap / tokens: tokens are not logged one by one, so this is an approximation) and its answer is what
ponder would extract from that prefix (usually an intermediate number, since the `\\boxed{}` answer
comes last). The table gives, per bin and cap, the majority vote's right answers over all N samples
and the share of the tokens left. A cap pays only in a bin where it keeps the right answers and
cuts tokens; `easy` and `hopeless` questions are stopped by the number of samples anyway.

    python bench/experiments/compute-where-it-pays/token_caps.py runs/q05-gsm8k-vote16 runs/q05-arith-s3-vote16 \\
        --cap 256 --cap 320 --cap 384
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from ponder.allocation.policy import BINS, difficulty_bin
from ponder.answers import equivalent, extract_answer
from ponder.voting import PreparedRecord


def capped(rec: dict[str, Any], cap: int) -> tuple[dict[str, Any], int]:
    """The record with every sample longer than `cap` tokens cut there, and the tokens it keeps."""
    cands, kept = [], 0
    for c in rec["candidates"]:
        t = c.get("tokens") or 0
        if t > cap:
            text = c.get("text") or ""
            answer = extract_answer(text[: len(text) * cap // t])
            c = {**c, "answer": answer, "tokens": cap,
                 "correct": answer is not None and equivalent(answer, rec.get("reference"))}
        kept += c.get("tokens") or 0
        cands.append(c)
    return {**rec, "candidates": cands}, kept


def table(records: list[dict[str, Any]], caps: list[int]) -> list[str]:
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        rows[difficulty_bin(sum(bool(c.get("correct")) for c in r["candidates"]) / len(r["candidates"]))].append(r)
    rows["all"] = records
    head = ["bin", "questions", "vote right, no cap"] + [f"cap {c}: right · tokens kept" for c in caps]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for b in (*BINS, "all"):
        recs = rows.get(b)
        if not recs:
            continue
        n = len(recs[0]["candidates"])
        total = sum(sum(c.get("tokens") or 0 for c in r["candidates"]) for r in recs)
        right = sum(PreparedRecord(r).vote_correct(range(n)) for r in recs)
        cells = [b, str(len(recs)), str(right)]
        for cap in caps:
            cut = [capped(r, cap) for r in recs]
            got = sum(PreparedRecord(r).vote_correct(range(len(r["candidates"]))) for r, _ in cut)
            cells.append(f"{got} · {sum(k for _, k in cut) / total:.0%}")
        out.append("| " + " | ".join(cells) + " |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="self-consistency run folders (log.jsonl with the samples' text)")
    ap.add_argument("--cap", type=int, action="append", help="max_tokens to replay (repeatable)")
    args = ap.parse_args()
    caps = sorted(set(args.cap or [256, 320, 384]))
    if any(c < 1 for c in caps):
        ap.error(f"--cap {caps[0]}: must be a positive number of tokens")
    for run in map(Path, args.runs):
        recs = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()
                if line.strip() and line.endswith("}")]
        recs = [r for r in recs if r.get("candidates") and r.get("reference") is not None]
        if not recs:
            raise SystemExit(f"{run}: no graded records with samples")
        print(f"## {run.name}: {len(recs)} questions, {len(recs[0]['candidates'])} samples each\n")
        print("\n".join(table(recs, caps)) + "\n")


if __name__ == "__main__":
    main()
