"""Scaling-curve metrics, pure functions of an eval log (search-and-learn's recipe).

A run logs N_max candidates per (problem, seed). Accuracy at N = 1, 2, 4, … is estimated by
subsampling N of them (seeded; every subset when there are few) and applying each selection method:

- `majority`: the most common answer (self-consistency);
- `weighted`: answers weighted by the candidates' verifier scores;
- `naive`: best-of-N, the single highest-scored candidate;
- `oracle`: pass@N, some candidate is right (exact: 1 − C(K−c, N) / C(K, N)).

How well the verifier ranks (`ranking`): the share of (right, wrong) candidate pairs of the same
problem where the right one scored higher, ties half — the AUROC that best-of-N depends on, taken
within problems so that easy problems' higher scores do not count as ranking. 0.5 is chance; a
model judging its own samples can fall below it (bench/experiments/search-and-verifiers/judge_check.py).

Confidence intervals are percentile bootstraps over problems (each problem's accuracy averaged over
its seeds first). Missing answers are wrong, never errors. Cost at N: generated tokens per problem
(mean tokens per candidate × N) and wall seconds (the run's wall × N / N_max).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from ponder.voting import PreparedRecord, n_grid

__all__ = ["METHODS", "PreparedRecord", "bootstrap_ci", "by_level", "curve", "elapsed_per_problem", "n_grid",
           "paired_bootstrap", "ranking", "summary"]

METHODS = ("majority", "weighted", "naive", "oracle")
Record = dict[str, Any]


def bootstrap_ci(values_by_problem: Sequence[float], *, reps: int = 1000, alpha: float = 0.05,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over problems."""
    vals = list(values_by_problem)
    if not vals:
        return (math.nan, math.nan)
    if len(vals) == 1:
        return (vals[0], vals[0])
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(vals, k=len(vals))) / len(vals) for _ in range(reps))
    lo = means[int(math.floor(alpha / 2 * (reps - 1)))]
    hi = means[int(math.ceil((1 - alpha / 2) * (reps - 1)))]
    return (lo, hi)


def paired_bootstrap(base: Sequence[tuple[float, float]], other: Sequence[tuple[float, float]], *,
                     reps: int = 2000, alpha: float = 0.05, seed: int = 0
                     ) -> tuple[tuple[float, float], tuple[float, float]]:
    """Paired percentile bootstrap over problems of two systems on the same problems, each problem a
    (correct or accuracy, cost) pair in the same order: the interval of the accuracy difference
    (other − base, in points) and of the cost ratio (other / base, totals)."""
    if len(base) != len(other) or not base:
        raise ValueError(f"paired_bootstrap needs the same problems on both sides ({len(base)} vs {len(other)})")
    rng = random.Random(seed)
    n = len(base)
    diffs, ratios = [], []
    for _ in range(reps):
        idx = [rng.randrange(n) for _ in range(n)]
        diffs.append(100 * sum(other[i][0] - base[i][0] for i in idx) / n)
        bt = sum(base[i][1] for i in idx)
        ratios.append(sum(other[i][1] for i in idx) / bt if bt else math.nan)
    diffs.sort()
    ratios.sort()
    lo, hi = int(math.floor(alpha / 2 * (reps - 1))), int(math.ceil((1 - alpha / 2) * (reps - 1)))
    return (diffs[lo], diffs[hi]), (ratios[lo], ratios[hi])


def curve(records: Sequence[Record], *, methods: Sequence[str] = METHODS, ns: Sequence[int] | None = None,
          subsamples: int = 64, seed: int = 0, bootstrap: int = 1000) -> list[dict[str, Any]]:
    """Rows {method, n, accuracy, ci_low, ci_high, tokens, wall_s, problems} for each method × N.
    Methods that cannot be computed from the log (no scores) are left out."""
    for m in methods:
        if m not in METHODS:
            from ponder.errors import ConfigError

            raise ConfigError("method", m, f"must be one of {', '.join(METHODS)}")
    prepared = [(r["problem_id"], PreparedRecord(r)) for r in records if r.get("candidates")]
    if not prepared:
        return []
    n_max = max(p.k for _, p in prepared)
    rows = []
    for method in methods:
        for n in ns or n_grid(n_max):
            rng = random.Random(f"{seed}:{method}:{n}")
            per_problem: dict[str, list[float]] = defaultdict(list)
            toks, walls = [], []
            for pid, p in prepared:
                acc = p.accuracy(n, method, rng, subsamples)
                if acc is None:
                    continue
                per_problem[pid].append(acc)
                if p.mean_tokens is not None:
                    toks.append(p.mean_tokens * n)
                if p.wall is not None:
                    walls.append(p.wall * n / p.k)
            if not per_problem:
                continue
            vals = [sum(v) / len(v) for v in per_problem.values()]
            lo, hi = bootstrap_ci(vals, reps=bootstrap, seed=seed)
            rows.append({"method": method, "n": n, "accuracy": sum(vals) / len(vals), "ci_low": lo,
                         "ci_high": hi, "tokens": sum(toks) / len(toks) if toks else None,
                         "wall_s": sum(walls) / len(walls) if walls else None, "problems": len(vals)})
    return rows


def by_level(records: Sequence[Record], **kw: Any) -> dict[Any, list[dict[str, Any]]]:
    """`curve` per difficulty level, for datasets that have one (MATH-500, arith)."""
    levels: dict[Any, list[Record]] = defaultdict(list)
    for r in records:
        if r.get("level") is not None:
            levels[r["level"]].append(r)
    return {lvl: curve(recs, **kw) for lvl, recs in sorted(levels.items())}


def summary(records: Sequence[Record]) -> dict[str, Any]:
    """The strategy's own final answers: accuracy, tokens and wall per problem."""
    graded = [r for r in records if r.get("correct") is not None]
    toks = [r["usage"]["completion_tokens"] for r in records if r["usage"].get("completion_tokens") is not None]
    walls = [r["usage"]["wall_s"] for r in records if r["usage"].get("wall_s") is not None]
    return {
        "records": len(records),
        "problems": len({r["problem_id"] for r in records}),
        "accuracy": sum(bool(r["correct"]) for r in graded) / len(graded) if graded else None,
        "tokens_per_problem": sum(toks) / len(toks) if toks else None,
        "wall_s_per_problem": sum(walls) / len(walls) if walls else None,
        "elapsed_s_per_problem": elapsed_per_problem(records),
        "no_answer": sum(r.get("answer") is None for r in records),
    }


def ranking(records: Sequence[Record]) -> dict[str, Any]:
    """Within-problem AUROC of the candidates' scores against their correctness: `auroc` (None when no
    problem has both a right and a wrong scored candidate), `pairs` and `problems` it was taken over."""
    wins = 0.0
    pairs = problems = 0
    for r in records:
        scored = [(c["score"], bool(c.get("correct"))) for c in r.get("candidates", ())
                  if c.get("score") is not None and c.get("correct") is not None]
        right = [s for s, ok in scored if ok]
        wrong = [s for s, ok in scored if not ok]
        if not right or not wrong:
            continue
        problems += 1
        pairs += len(right) * len(wrong)
        wins += sum((a > b) + 0.5 * (a == b) for a in right for b in wrong)
    return {"auroc": wins / pairs if pairs else None, "pairs": pairs, "problems": problems}


def elapsed_per_problem(records: Sequence[Record]) -> float | None:
    """The run's busy time per record: the union of the records' [finished − wall, finished] intervals
    (so problems solved concurrently share their time, and the gap while a run was stopped between
    sessions counts nothing), divided by the records. A run's throughput, where `wall_s_per_problem`
    is each problem's own latency. Records without `finished_at` (logged before it existed) are left
    out, so a run resumed across that change still has a throughput; None when fewer than half of
    the records have one."""
    spans = []
    for r in records:
        fin, wall = r.get("finished_at"), (r.get("usage") or {}).get("wall_s")
        if fin is not None and wall is not None:
            spans.append((fin - wall, fin))
    if 2 * len(spans) < len(records):
        return None
    if not spans:
        return None
    spans.sort()
    busy, (start, end) = 0.0, spans[0]
    for a, b in spans[1:]:
        if a > end:
            busy += end - start
            start, end = a, b
        else:
            end = max(end, b)
    return (busy + end - start) / len(spans)
