"""The distillation table: base against distilled models on held-out problems, from eval logs alone.

For each reported set (GSM8K test [0:200], arith seed 3 [0:200]) and each system: accuracy with a paired
bootstrap 95% interval of its difference to the base model's self-consistency@16, tokens and FLOPs per
question, seconds per question, and for a distilled model what distilling cost (sampling the training
set + training, FLOPs) and after how many questions it pays back against the base setting it matches.

Every log is graded again with the current answer extraction (`ponder.answers`), so base logs written
before a change of extraction and new logs compare on the same rule. Base vote@N rows are read off the
base SC@16 log (the first N samples); a distilled model's vote@N off its own n=16 log when there is one.
Needs only the light install (no model).

    python bench/experiments/distill/analyse.py --set gsm8k \\
        --sc16 bench/runs/held-out-200/q05-gsm8k-vote16 --base-greedy runs/distill/q05-gsm8k-greedy \\
        --distilled verified=runs/distill/q05-gsm8k-verified [--distilled-vote16 verified=RUN] [--auto RUN]

A run given as `PATH.log.jsonl.gz` (a committed log) is read compressed; a folder as a run directory;
a distill folder as `ponder distill` writes it or as `commit.sh` commits it (bench/runs/distill/NAME).
`analyse.sh arith|gsm8k` runs this on the committed logs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from ponder.answers import equivalent, extract_answer  # noqa: E402
from ponder.eval.logfile import read_log  # noqa: E402
from ponder.eval.metrics import elapsed_per_problem, paired_bootstrap  # noqa: E402
from ponder.voting import PreparedRecord  # noqa: E402


def load(spec: str) -> list[dict[str, Any]]:
    """Records of a run directory, a log file, or a committed `NAME.log.jsonl.gz`."""
    p = Path(spec)
    if p.is_dir():
        return read_log(p / "log.jsonl")
    gz = p if p.suffix == ".gz" else Path(str(p) + ".log.jsonl.gz")
    if gz.is_file():
        with gzip.open(gz, "rt", encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    return read_log(p)


def regrade(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """problem_id → its record with every candidate's answer and correctness recomputed."""
    out = {}
    for r in records:
        ref = r.get("reference")
        cands = []
        for c in r.get("candidates") or []:
            ans = extract_answer(c.get("text") or "")
            cands.append({**c, "answer": ans, "correct": None if ref is None else bool(ans and equivalent(ans, ref))})
        out[str(r["problem_id"])] = {**r, "candidates": cands}
    return out


@dataclass(frozen=True)
class Distilled:
    """One round of a distilled model: its greedy answers on the set and what distilling it cost."""

    label: str
    records: dict[str, dict[str, Any]]  # problem_id → regraded record
    sampling_flops: float
    training_flops: float

    @property
    def once(self) -> float:
        return self.sampling_flops + self.training_flops


def position(problem_id: str) -> int:
    """A problem's index in its set: the number its id ends with (`arith-s3-L2-41` → 41)."""
    digits = re.search(r"(\d+)$", problem_id)
    return int(digits.group(1)) if digits else 0


def vote_at(rec: dict[str, Any], n: int) -> float:
    """Whether the majority of the first n samples is right (the vote strategy's own tie-break)."""
    prep = PreparedRecord(rec)
    return float(prep.vote_correct(list(range(min(n, prep.k)))))


def one(rec: dict[str, Any]) -> float:
    """The first sample alone."""
    cands = rec.get("candidates") or []
    return float(bool(cands and cands[0].get("correct")))


def cost(rec: dict[str, Any], n: int | None = None) -> tuple[float, float]:
    """(generated tokens, FLOPs) of the record, or of its first n samples (prompt counted once)."""
    u = rec.get("usage") or {}
    toks = [c.get("tokens") or 0 for c in rec.get("candidates") or []]
    flops = u.get("flops_estimate") or 0.0
    if n is None or not toks:
        return float(u.get("completion_tokens") or sum(toks)), float(flops)
    spent = sum(toks[:n])
    evaluated = (u.get("prompt_tokens") or 0) + sum(toks)
    per_token = flops / evaluated if evaluated else 0.0
    return float(spent), per_token * ((u.get("prompt_tokens") or 0) + spent)


def row(name: str, ids: list[str], score: Any, spend: Any, base: list[tuple[float, float]],
        seconds: float | None) -> dict[str, Any]:
    pairs = [(score(i), spend(i)[0]) for i in ids]
    flops = sum(spend(i)[1] for i in ids) / len(ids)
    acc = sum(a for a, _ in pairs) / len(ids)
    (dl, dh), (rl, rh) = paired_bootstrap(base, pairs)
    d = 100 * (acc - sum(a for a, _ in base) / len(ids))
    return {"system": name, "accuracy": 100 * acc, "delta": d, "delta_ci": (dl, dh),
            "tokens": sum(t for _, t in pairs) / len(ids), "flops": flops, "seconds": seconds}


def acc_at(recs: dict[str, dict[str, Any]], ids: list[str], n: int) -> float:
    return 100 * sum(vote_at(recs[i], n) for i in ids) / len(ids)


def cost_at(recs: dict[str, dict[str, Any]], ids: list[str], n: int) -> float:
    return sum(cost(recs[i], n if n < 16 else None)[1] for i in ids) / len(ids)


def plot(path: str, title: str, curves: dict[str, list[tuple[float, float]]], points: list[tuple[str, float, float]],
         cost_once: float) -> None:
    """Accuracy against FLOPs per question; distilled points also with the one-off cost spread over
    1,000 and 10,000 questions (hollow markers)."""
    import matplotlib

    matplotlib.use("Agg")  # a file, never a window (the backend of this script's own process)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for label, pts in curves.items():
        ax.plot([f for f, _ in pts], [a for _, a in pts], marker="o", label=label)
    for label, flops, acc in points:
        line = ax.plot([flops], [acc], marker="*", markersize=13, linestyle="none", label=label)[0]
        for q, m in ((1000, "s"), (10000, "D")):
            if cost_once:
                ax.plot([flops + cost_once / q], [acc], marker=m, markersize=7, linestyle="none",
                        markerfacecolor="none", color=line.get_color(),
                        label=f"{label}, distilling cost over {q:,} questions")
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs per question")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", required=True, help="The reported set's name, for the table's title.")
    ap.add_argument("--sc16", required=True, help="The base model's vote n=16 log on the set.")
    ap.add_argument("--base-greedy", help="The base model's greedy log on the set.")
    ap.add_argument("--distilled", action="append", default=[],
                    help="NAME=DISTILL_OUT (its round-K/eval greedy logs and distill.json), repeatable.")
    ap.add_argument("--distilled-vote16", action="append", default=[], help="NAME=RUN: a distilled model's n=16 log.")
    ap.add_argument("--auto", action="append", default=[], help="NAME=RUN: an auto log on the set.")
    ap.add_argument("--compare", action="append", default=[],
                    help="LABEL=RUN: another system's vote log on the set (say the larger model), its majority "
                         "over all its samples; a row for scale, never a base setting to pay back against.")
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--plot", help="Draw accuracy against FLOPs per question (PNG): the base model's vote@N "
                                   "curve, the distilled models' points, and those points with the distilling "
                                   "cost amortised over 1,000 and 10,000 questions.")
    args = ap.parse_args()

    sc = regrade(load(args.sc16))
    ids = sorted(sc, key=position)[: args.limit]  # the set's first questions, as a sliced run logs them
    base = [(vote_at(sc[i], 16), cost(sc[i])[0]) for i in ids]
    secs = elapsed_per_problem([sc[i] for i in ids])
    rows = [row("base: self-consistency@16", ids, lambda i: vote_at(sc[i], 16), lambda i: cost(sc[i]), base, secs),
            row("base: vote@4 (first 4 of the 16)", ids, lambda i: vote_at(sc[i], 4), lambda i: cost(sc[i], 4), base,
                None),
            row("base: one sample at temperature 0.7", ids, lambda i: one(sc[i]), lambda i: cost(sc[i], 1), base,
                None)]
    if args.base_greedy:
        g = regrade(load(args.base_greedy))
        rows.append(row("base: greedy", ids, lambda i: one(g[i]), lambda i: cost(g[i]), base,
                        elapsed_per_problem([g[i] for i in ids])))
    distilled: list[Distilled] = []
    for spec in args.distilled:
        name, _, out = spec.partition("=")
        state = json.loads((Path(out) / "distill.json").read_text())
        done = {r["round"]: r for r in state["rounds"]}
        for k in sorted(int(p.name.split("-")[1]) for p in Path(out).glob("round-*")):
            # a round whose evaluation is still running is not in distill.json yet: its costs from its files
            r = done.get(k) or {"round": k, "sampling_flops": sum(
                                    (rec.get("usage") or {}).get("flops_estimate") or 0.0
                                    for run in state["settings"]["runs"] for rec in load(run)) if k == 1 else 0.0,
                                "train": (json.loads((Path(out) / f"round-{k}" / "train" / "train.json").read_text())
                                          ["result"])}
            ev = Path(out) / f"round-{r['round']}" / "eval"  # committed: round-K/eval.log.jsonl.gz
            if not (ev / "log.jsonl").is_file() and not Path(f"{ev}.log.jsonl.gz").is_file():
                continue
            d = regrade(load(str(ev)))
            missing = [i for i in ids if i not in d]
            if missing:
                print(f"# {name} round {r['round']}: {len(missing)} of {len(ids)} questions not logged yet; skipped")
                continue
            label = f"distilled ({name}, round {r['round']}): greedy"
            rows.append(row(label, ids, lambda i, d=d: one(d[i]), lambda i, d=d: cost(d[i]), base,
                            elapsed_per_problem([d[i] for i in ids])))
            distilled.append(Distilled(label, d, r["sampling_flops"], r["train"]["flops"]))
    for spec in args.distilled_vote16:
        name, _, run = spec.partition("=")
        d = regrade(load(run))
        if all(i in d for i in ids):
            for n in (4, 16):
                rows.append(row(f"distilled ({name}): vote@{n}", ids, lambda i, d=d, n=n: vote_at(d[i], n),
                                lambda i, d=d, n=n: cost(d[i], n if n < 16 else None), base,
                                elapsed_per_problem([d[i] for i in ids]) if n == 16 else None))
    # auto runs and the runs for scale: each scored by its vote over all its samples, at its whole cost
    whole = [(f"{name}: auto", run) for name, _, run in (s.partition("=") for s in args.auto)]
    whole += [(label, run) for label, _, run in (s.partition("=") for s in args.compare)]
    for label, run in whole:
        d = regrade(load(run))
        if all(i in d for i in ids):
            rows.append(row(label, ids, lambda i, d=d: vote_at(d[i], 10**6), lambda i, d=d: cost(d[i]), base,
                            elapsed_per_problem([d[i] for i in ids])))
    print(f"\n### {args.set}: {len(ids)} held-out questions\n")
    print("| system | accuracy % | Δ vs base SC@16, pts [95% CI] | tokens / question | TFLOPs / question "
          "| s / question |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        lo, hi = r["delta_ci"]
        ci = "—" if r["system"].startswith("base: self") else f"{r['delta']:+.1f} [{lo:+.1f}, {hi:+.1f}]"
        s = f"{r['seconds']:.1f}" if r["seconds"] else "—"
        print(f"| {r['system']} | {r['accuracy']:.1f} | {ci} | {r['tokens']:,.0f} | {r['flops'] / 1e12:.2f} | {s} |")
    if args.plot:
        curves = {"base: vote@N": [(cost_at(sc, ids, n), acc_at(sc, ids, n)) for n in (1, 2, 4, 8, 16)]}
        for spec in args.distilled_vote16:
            name, _, run = spec.partition("=")
            d = regrade(load(run))
            if all(i in d for i in ids):
                curves[f"distilled ({name}): vote@N"] = [(cost_at(d, ids, n), acc_at(d, ids, n))
                                                         for n in (1, 2, 4, 8, 16)]
        points = [(r["system"], r["flops"], r["accuracy"]) for r in rows
                  if not r["system"].startswith("base:") and "vote@" not in r["system"]]
        cost_once = sum(x.once for x in distilled) / max(len(distilled), 1)
        plot(args.plot, f"{args.set}: {len(ids)} held-out questions", curves, points, cost_once)
    if args.base_greedy:
        for x in distilled:  # what distilling changed about the same one-sample decision
            d = x.records
            (lo, hi), _ = paired_bootstrap([(one(g[i]), 0.0) for i in ids], [(one(d[i]), 0.0) for i in ids])
            delta = 100 * sum(one(d[i]) - one(g[i]) for i in ids) / len(ids)
            print(f"\n{x.label} against base: greedy: {delta:+.1f} pts [{lo:+.1f}, {hi:+.1f}]", end="")
        print()
    for x in distilled:
        label, sampled, trained = x.label, x.sampling_flops, x.training_flops
        r = next(row_ for row_ in rows if row_["system"] == label)
        matched = max((b for b in rows if b["system"].startswith("base") and b["accuracy"] <= r["accuracy"]),
                      key=lambda b: b["accuracy"], default=None)
        print(f"\n{label}: distilling cost {sampled / 1e15:.2f} PFLOPs of sampling + {trained / 1e15:.2f} PFLOPs of "
              f"training.", end="")
        if matched is not None and matched["flops"] > r["flops"]:
            saved = matched["flops"] - r["flops"]
            print(f" Against {matched['system']} ({matched['accuracy']:.1f}%, at or below its accuracy) it saves "
                  f"{saved / 1e12:.2f} TFLOPs a question: it pays back after "
                  f"{x.once / saved:,.0f} questions (training alone: {trained / saved:,.0f}).")
        else:
            print(" No base setting at or below its accuracy costs more per question.")


if __name__ == "__main__":
    main()
