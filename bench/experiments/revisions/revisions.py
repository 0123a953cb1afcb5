"""Benchmark: sequential revisions against parallel samples at equal attempts, per difficulty level.

Reads eval logs only (no sampling), all on the same questions (a held-out split nothing was tuned
on): `--vote RUN` (self-consistency with N samples) and one `--run LABEL=RUN` per revise setting
(`-s revise -n N --option chains=M`). Prints, overall and per level: accuracy, generated and prompt
tokens per question, and each run's accuracy difference against the vote with a paired bootstrap
95% interval over questions; the vote is also replayed at fewer samples (its first k) so the table
has vote@k at the tokens of each setting. `--plot FILE` draws accuracy against generated tokens
per level.

    python bench/experiments/revisions/revisions.py --vote runs/q05-arith-s2-vote4 --run \\
        revise-c1=runs/q05-arith-s2-revise4-c1 \\
        --run revise-c2=runs/q05-arith-s2-revise4-c2 --plot docs/img/revisions.png
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from ponder.eval.runner import RunDir  # noqa: E402
from ponder.voting import PreparedRecord  # noqa: E402


def rows_of(path):  # type: ignore[no-untyped-def]
    """problem id → (correct, generated tokens, prompt tokens, level)."""
    out = {}
    for r in RunDir(path).records():
        u = r.get("usage") or {}
        out.setdefault(r["problem_id"], (bool(r.get("correct")), u.get("completion_tokens") or 0,
                                         u.get("prompt_tokens") or 0, r.get("level")))
    return out


def vote_at(path, k):  # type: ignore[no-untyped-def]
    """The vote log replayed at k of its samples: problem id → (expected majority accuracy over
    subsets of k, expected generated tokens)."""
    out = {}
    for r in RunDir(path).records():
        p = PreparedRecord(r)
        toks = [c.get("tokens") or 0 for c in r["candidates"]]
        out.setdefault(r["problem_id"], (p.accuracy(k, "majority", random.Random(0), 64) or 0.0,
                                         k * sum(toks) / max(len(toks), 1)))
    return out


def paired_diff(base, other, ids, reps=2000, seed=0):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    n = len(ids)
    diffs = sorted(100 * sum(other[ids[j]][0] - base[ids[j]][0] for j in (rng.randrange(n) for _ in range(n))) / n
                   for _ in range(reps))
    return diffs[int(0.025 * reps)], diffs[int(0.975 * reps) - 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vote", required=True)
    ap.add_argument("--run", action="append", default=[], help="LABEL=RUN")
    ap.add_argument("--plot")
    args = ap.parse_args()
    base = rows_of(args.vote)
    n = min(len(r["candidates"]) for r in RunDir(args.vote).records())
    runs = {f"vote@{n}": base}
    for k in (1, 2):
        if k < n:
            runs[f"vote@{k} (replayed)"] = {pid: (c, t, base[pid][2], base[pid][3])
                                            for pid, (c, t) in vote_at(args.vote, k).items()}
    for spec in args.run:
        label, _, path = spec.partition("=")
        runs[label] = rows_of(path)
    ids = sorted(set.intersection(*(set(r) for r in runs.values())))
    print(f"{len(ids)} questions in every run\n")
    levels = sorted({base[i][3] for i in ids}, key=lambda x: (x is None, x))
    print(f"| run | accuracy | Δ vs vote@{n} (95% CI) | generated tokens / q | prompt tokens / q |")
    print("|---|---|---|---|---|")
    for label, rows in runs.items():
        acc = 100 * sum(rows[i][0] for i in ids) / len(ids)
        lo, hi = paired_diff(base, rows, ids)
        print(f"| {label} | {acc:.1f}% | {acc - 100 * sum(base[i][0] for i in ids) / len(ids):+.1f} "
              f"[{lo:+.1f}, {hi:+.1f}] | {sum(rows[i][1] for i in ids) / len(ids):.0f} | "
              f"{sum(rows[i][2] for i in ids) / len(ids):.0f} |")
    print("\nper level: accuracy (generated tokens / q)\n")
    print("| run | " + " | ".join(f"level {lv}" for lv in levels) + " |")
    print("|---|" + "---|" * len(levels))
    per = defaultdict(dict)
    for label, rows in runs.items():
        cells = []
        for lv in levels:
            sub = [i for i in ids if base[i][3] == lv]
            acc = 100 * sum(rows[i][0] for i in sub) / len(sub)
            tok = sum(rows[i][1] for i in sub) / len(sub)
            per[label][lv] = (acc, tok)
            cells.append(f"{acc:.0f}% ({tok:.0f})")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print(f"\n(questions per level: {', '.join(f'{lv}: {sum(base[i][3] == lv for i in ids)}' for lv in levels)})")
    if args.plot:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(3.2 * len(levels), 3.2))
        axes = fig.subplots(1, len(levels), sharey=True, squeeze=False)[0]
        for ax, lv in zip(axes, levels):
            for label in runs:
                acc, tok = per[label][lv]
                ax.scatter([tok], [acc], label=label, marker="o" if label.startswith("vote") else "s")
            ax.set_title(f"level {lv}")
            ax.set_xlabel("generated tokens / question")
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("accuracy (%)")
        axes[-1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
