"""Benchmark: the simplest router, an agreement cascade, replayed on two models' self-consistency logs.

Issue 12's `route` prices arms per predicted difficulty bin, fitted on logs. Before asking whether a
better-fitted route would realise the routing ceiling (`frontier_heldout.py --difficulty`), this
measures the rule that needs no fitting at all (as in LLM cascades by answer consistency): draw
`probe` samples from the small model; if they all give the same answer, keep it; otherwise ask the
large model for k samples and take their majority. Per question, the expected accuracy and FLOPs
over `--subsamples` random probe subsets of the small model's logged samples (the large model's
majority@k is its expected accuracy over subsets of k of its samples), against the large model's
majority@k alone on the same questions, with a paired bootstrap interval, and against the best single
(model, method, N) of either log whose mean FLOPs fit within the cascade's (chosen in hindsight on the
same questions, so a bar the cascade should clear, not a fitted rival). FLOPs per sample come
from the logs' `flops_estimate` (`ponder.allocation.route_table`'s accounting: the prompt once, then the
mean sample). Questions are paired by `problem_id`; only those in both logs count.

    python bench/experiments/small-vs-large/cascade.py --small runs/q05-gsm8k-vote16 --large \\
        runs/q15-gsm8k-vote4 --probe 2 --probe 3
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from frontier_heldout import arms, compare, label, load, mean  # noqa: E402  (bench/ is on sys.path when run)

from ponder.allocation.route_table import flops_at as _flops_at  # noqa: E402
from ponder.eval.metrics import paired_bootstrap  # noqa: E402
from ponder.voting import PreparedRecord  # noqa: E402


def read_log(run: str) -> tuple[str, dict[str, dict[str, Any]]]:
    """(model, records by problem_id) of a run, read as the other benches read it."""
    model, recs = load(run)
    return model, {r["problem_id"]: r for r in recs}


def cascade(small: dict[str, Any], large: dict[str, Any], probe: int, k: int, rng: random.Random,
            subsamples: int) -> tuple[float, float, float]:
    """(expected accuracy, expected FLOPs, share sent to the large model) of one question."""
    s, lg = PreparedRecord(small), PreparedRecord(large)
    big_acc = lg.accuracy(k, "majority", rng, subsamples)
    probe_flops, big_flops = _flops_at(small, probe), _flops_at(large, k)
    if big_acc is None or probe_flops is None or big_flops is None or probe > s.k:
        raise SystemExit(f"{small['problem_id']}: needs {probe} small and {k} large samples with FLOPs")
    acc = sent = 0.0
    for _ in range(subsamples):
        sub = rng.sample(range(s.k), probe)
        keys = {s.keys[i] for i in sub}
        if len(keys) == 1 and None not in keys:
            acc += s.correct[sub[0]]
        else:
            acc += big_acc
            sent += 1
    return acc / subsamples, probe_flops + big_flops * sent / subsamples, sent / subsamples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", required=True, help="the small model's self-consistency run folder")
    ap.add_argument("--large", required=True, help="the large model's self-consistency run folder")
    ap.add_argument("--probe", type=int, action="append", help="small-model samples that must agree (repeatable)")
    ap.add_argument("--subsamples", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    (small_model, small), (large_model, large) = read_log(args.small), read_log(args.large)
    ids = [i for i in small if i in large]
    if not ids:
        raise SystemExit("--small and --large share no problem_id")
    k_max = min(PreparedRecord(large[i]).k for i in ids)
    rng = random.Random(args.seed)
    n = len(ids)
    singles = {}
    for model, log in ((small_model, small), (large_model, large)):
        singles.update(arms(model, [log[i] for i in ids], args.subsamples, args.seed))
    cost = {a: mean(per[i][1] for i in ids) for a, per in singles.items()}
    print(f"# {n} questions in both logs; small {args.small}, large {args.large}")
    print("| cascade | accuracy % | FLOPs / question | sent to large | large majority@k alone: accuracy %, FLOPs "
          "| Δ cascade − alone, pts [95% CI] | best single within the cascade's FLOPs (hindsight): accuracy % "
          "| Δ cascade − best single, pts [95% CI] |")
    print("|---|---|---|---|---|---|---|---|")
    for probe in args.probe or [2]:
        for k in range(1, k_max + 1):
            rows = [cascade(small[i], large[i], probe, k, rng, args.subsamples) for i in ids]
            alone = [(PreparedRecord(large[i]).accuracy(k, "majority", rng, args.subsamples) or 0.0,
                      _flops_at(large[i], k) or 0.0) for i in ids]
            (lo, hi), _ = paired_bootstrap(alone, [(a, f) for a, f, _ in rows], seed=args.seed)
            acc, flops = sum(r[0] for r in rows) / n, sum(r[1] for r in rows) / n
            a_acc, a_flops = sum(a for a, _ in alone) / n, sum(f for _, f in alone) / n
            fits = [a for a in singles if cost[a] <= flops * (1 + 1e-9)]
            if fits:
                best = max(fits, key=lambda a: (mean(singles[a][i][0] for i in ids), -cost[a]))
                d, dlo, dhi = compare(singles[best], {i: (r[0], r[1]) for i, r in zip(ids, rows)}, ids)
                vs_best = (f"{label(best)}: {100 * mean(singles[best][i][0] for i in ids):.1f} "
                           f"| {d:+.1f} [{dlo:+.1f}, {dhi:+.1f}]")
            else:
                vs_best = "none fits | —"
            print(f"| {probe} agreeing small samples, else large majority@{k} | {100 * acc:.1f} | {flops:.2e} "
                  f"| {100 * sum(r[2] for r in rows) / n:.0f}% | {100 * a_acc:.1f}, {a_flops:.2e} "
                  f"| {100 * (acc - a_acc):+.1f} [{lo:+.1f}, {hi:+.1f}] | {vs_best} |")


if __name__ == "__main__":
    main()
