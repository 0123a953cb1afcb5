"""Training data from eval logs ("distillation" of test-time compute into the model).

- `sft`: per record, one correct candidate (the highest-scored, else the strategy's chosen one, else
  the shortest) as a chat example. Without a reference answer, the strategy's chosen candidate.
- `preference`: per record, a (chosen, rejected) pair: the best correct vs the worst incorrect
  candidate; records without both are skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ponder.errors import ConfigError

FORMATS = ("sft", "preference")


def _rank(c: dict[str, Any], i: int, chosen: int | None) -> tuple:
    return (c.get("score") if c.get("score") is not None else float("-inf"), i == chosen, -len(c["text"]))


def sft_example(rec: dict[str, Any]) -> dict[str, Any] | None:
    cands = rec.get("candidates") or []
    if rec.get("reference") is not None:
        pool = [(i, c) for i, c in enumerate(cands) if c.get("correct")]
    else:
        pool = [(rec["chosen"], cands[rec["chosen"]])] if rec.get("chosen") is not None else []
    if not pool:
        return None
    _, best = max(pool, key=lambda ic: _rank(ic[1], ic[0], rec.get("chosen")))
    return {"id": rec["problem_id"], "messages": [{"role": "user", "content": rec["question"]},
                                                  {"role": "assistant", "content": best["text"]}]}


def preference_example(rec: dict[str, Any]) -> dict[str, Any] | None:
    cands = list(enumerate(rec.get("candidates") or []))
    good = [ic for ic in cands if ic[1].get("correct")]
    bad = [ic for ic in cands if ic[1].get("correct") is False]
    if not good or not bad:
        return None
    _, chosen = max(good, key=lambda ic: _rank(ic[1], ic[0], rec.get("chosen")))
    _, rejected = min(bad, key=lambda ic: _rank(ic[1], ic[0], rec.get("chosen")))
    return {"id": rec["problem_id"], "prompt": rec["question"], "chosen": chosen["text"],
            "rejected": rejected["text"]}


def export(records: Iterable[dict[str, Any]], fmt: str, out: str | os.PathLike) -> int:
    """Write JSONL training data; returns the number of examples written."""
    if fmt not in FORMATS:
        raise ConfigError("format", fmt, f"must be one of {', '.join(FORMATS)}")
    make = sft_example if fmt == "sft" else preference_example
    n = 0
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        for rec in records:
            ex = make(rec)
            if ex is not None:
                f.write(json.dumps(ex, ensure_ascii=False) + "\n")
                n += 1
    return n


def why_none(records: Iterable[dict[str, Any]], fmt: str) -> str:
    """Why a log gave no examples in `fmt`, counted over its records (for the CLI's message)."""
    recs = list(records)
    if not recs:
        return "the log has no records"
    no_cands = sum(not r.get("candidates") for r in recs)
    if no_cands == len(recs):
        return "no record keeps its candidates"
    if fmt == "sft":
        labelled = [r for r in recs if r.get("reference") is not None]
        wrong = sum(not any(c.get("correct") for c in r.get("candidates") or ()) for r in labelled)
        unchosen = sum(r.get("chosen") is None for r in recs if r.get("reference") is None)
        parts = [f"{wrong} of {len(labelled)} labelled records have no right candidate" if labelled else "",
                 f"{unchosen} unlabelled records have no chosen answer" if unchosen else ""]
        return "; ".join(p for p in parts if p) + " (sft keeps a right candidate, or the chosen one without a " \
                                                  "reference; ponder distill --mode majority learns from votes)"
    both = sum(any(c.get("correct") for c in r.get("candidates") or ()) and
               any(c.get("correct") is False for c in r.get("candidates") or ()) for r in recs)
    return f"{len(recs) - both} of {len(recs)} records lack a right and a wrong candidate to pair"
