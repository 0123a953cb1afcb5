"""The compute-optimal frontier across runs: which (model, strategy, N) gives the best accuracy for a
given compute, overall and per difficulty level (Snell et al. 2024; the Hugging Face study of
open models), computed from eval logs with no new sampling.

Each run becomes points (accuracy, compute):
- runs of i.i.d. samples (`vote`, `weighted-vote`, `best-of-n`) give one point per N = 1, 2, 4, …
  and per selection method (majority; and weighted vote and best-of-N when the log has scores),
  by subsampling the log as `ponder.eval.metrics.curve` does;
- any other strategy (adaptive, search, auto, route, …) gives one point: its own answers and cost.
Compute is FLOPs per problem (and generated tokens, and wall seconds). FLOPs at N from a log of
N_max samples: per problem, (FLOPs per evaluated token) × (prompt tokens + N × mean generated
tokens), the FLOPs per token read off the record's own usage (`flops_estimate` ≈ 2 × parameters ×
tokens evaluated, so two models of different sizes compare fairly; a prompt shared by the N
samples is counted once, as it is evaluated once).

The **frontier** is the upper envelope: the points that no cheaper-or-equal point beats. The
**compute-optimal table** gives, per difficulty level and FLOP budget, the best point within it.

**Difficulty from held-back samples** (`held_back_levels`, `ponder report --difficulty RUN`), for
sets without levels (GSM8K) or to bin a set by how hard it is for a model rather than by its
labels: Snell et al.'s "oracle difficulty", the pass rate of a model's own samples, binned. Binning
on the same samples that are then voted on would bias that model's per-level curves (a question in
the "none right" bin has, by construction, no right sample to vote for), so the last K samples of
one run set the level and only its other samples are scored; the other runs' samples are
independent of those K, so their per-level curves are unbiased.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from ponder.errors import ConfigError
from ponder.eval.metrics import bootstrap_ci, summary
from ponder.voting import PreparedRecord, is_iid, n_grid

X_AXES = ("flops", "tokens", "wall")
Point = dict[str, Any]


def _flops_per_token(rec: dict[str, Any]) -> float | None:
    u = rec.get("usage") or {}
    evaluated = (u.get("prompt_tokens") or 0) + (u.get("completion_tokens") or 0)
    return u["flops_estimate"] / evaluated if u.get("flops_estimate") and evaluated else None


def _iid_points(label: str, records: Sequence[dict[str, Any]], *, subsamples: int, seed: int,
                bootstrap: int) -> list[Point]:
    prepared = [(r, PreparedRecord(r)) for r in records if r.get("candidates")]
    if not prepared:
        return []
    n_max = min(p.k for _, p in prepared)
    has_scores = all(s is not None for _, p in prepared for s in p.scores)
    out = []
    for method in ("majority", *(("weighted", "naive") if has_scores else ())):
        for n in n_grid(n_max):
            rng = random.Random(f"{seed}:{method}:{n}")
            per: dict[str, list[float]] = defaultdict(list)
            toks, flops, walls = [], [], []
            for r, p in prepared:
                acc = p.accuracy(n, method, rng, subsamples)
                if acc is None:
                    continue
                per[r["problem_id"]].append(acc)
                u = r.get("usage") or {}
                if p.mean_tokens is not None:
                    toks.append(p.mean_tokens * n)
                    fpt = _flops_per_token(r)
                    if fpt is not None:
                        flops.append(fpt * ((u.get("prompt_tokens") or 0) + p.mean_tokens * n))
                if p.wall is not None:
                    walls.append(p.wall * n / p.k)
            if not per:
                continue
            vals = [sum(v) / len(v) for v in per.values()]
            lo, hi = bootstrap_ci(vals, reps=bootstrap, seed=seed)
            out.append({"run": label, "method": method, "n": n, "accuracy": sum(vals) / len(vals),
                        "ci_low": lo, "ci_high": hi, "problems": len(vals),
                        "tokens": sum(toks) / len(toks) if toks else None,
                        "flops": sum(flops) / len(flops) if len(flops) == len(toks) and flops else None,
                        "wall": sum(walls) / len(walls) if walls else None})
    return out


def own_point(label: str, records: Sequence[dict[str, Any]], *, seed: int, bootstrap: int) -> list[Point]:
    graded = [r for r in records if r.get("correct") is not None]
    if not graded:
        return []
    s = summary(records)
    vals = [float(bool(r["correct"])) for r in graded]
    lo, hi = bootstrap_ci(vals, reps=bootstrap, seed=seed)
    flops = [(r.get("usage") or {}).get("flops_estimate") for r in records]
    drawn = [len(r.get("candidates") or ()) for r in records]
    return [{"run": label, "method": records[0].get("strategy") or "own", "n": None,
             "samples": sum(drawn) / len(drawn),
             "accuracy": sum(vals) / len(vals), "ci_low": lo, "ci_high": hi, "problems": len(vals),
             "tokens": s["tokens_per_problem"], "wall": s["wall_s_per_problem"],
             "flops": sum(f for f in flops if f is not None) / len(flops) if flops and None not in flops else None}]


LEVEL_RULE = ("1: more than 3/4 of the held-back samples right, 2: more than 1/2, 3: more than 1/4, "
              "4: at least one, 5: none")


def pass_rate_level(right: int, total: int) -> int:
    """Difficulty level 1 (easiest) to 5 (no sample right) of a pass rate over `total` samples."""
    if right <= 0:
        return 5
    return 1 + min(3, int((1 - right / total) * 4 + 1e-9))


def held_back_levels(runs: Sequence[tuple[str, Sequence[dict[str, Any]]]], label: str, held_back: int
                     ) -> list[tuple[str, list[dict[str, Any]]]]:
    """The runs with every record's `level` set from run `label`'s last `held_back` samples of the
    same problem (`pass_rate_level`), that run's records keeping only their other samples (its wall
    time scaled to them). Problems that run has not logged are dropped from every run."""
    found = [recs for lab, recs in runs if lab == label]
    if not found:
        raise ConfigError("difficulty", label, f"is not one of the runs ({', '.join(lab for lab, _ in runs)})")
    base = [r for r in found[0] if r.get("candidates")]
    if not is_iid(base):
        raise ConfigError("difficulty", label, "must be a run of independent samples (vote, weighted-vote, best-of-n)")
    n_max = min((len(r["candidates"]) for r in base), default=0)
    if isinstance(held_back, bool) or not isinstance(held_back, int) or not 1 <= held_back < n_max:
        raise ConfigError("held_back", held_back, f"must be an integer from 1 to {n_max - 1} ({label} logs "
                                                  f"{n_max} samples per problem; the rest are scored)")
    levels: dict[Any, int] = {}
    for r in base:
        tail = r["candidates"][-held_back:]
        levels[r["problem_id"]] = pass_rate_level(sum(bool(c.get("correct")) for c in tail), held_back)
    out = []
    for lab, recs in runs:
        new = []
        for r in recs:
            lvl = levels.get(r.get("problem_id"))
            if lvl is None:
                continue
            r = {**r, "level": lvl}
            if lab == label and r.get("candidates"):
                k = len(r["candidates"])
                usage = dict(r.get("usage") or {})
                if usage.get("wall_s") is not None:
                    usage["wall_s"] = usage["wall_s"] * (k - held_back) / k
                r = {**r, "candidates": r["candidates"][: k - held_back], "usage": usage}
            new.append(r)
        out.append((lab, new))
    return out


def run_points(label: str, records: Sequence[dict[str, Any]], *, subsamples: int = 64, seed: int = 0,
               bootstrap: int = 1000) -> list[Point]:
    """A run's points (see the module docstring)."""
    if not records:
        return []
    if is_iid(records):
        return _iid_points(label, records, subsamples=subsamples, seed=seed, bootstrap=bootstrap)
    return own_point(label, records, seed=seed, bootstrap=bootstrap)


def points_by_level(runs: Sequence[tuple[str, Sequence[dict[str, Any]]]], **kw: Any) -> dict[Any, list[Point]]:
    """{"all": points over every problem, level: points over that level's problems, …}."""
    out: dict[Any, list[Point]] = {"all": [p for label, recs in runs for p in run_points(label, recs, **kw)]}
    levels = sorted({lv for _, recs in runs for r in recs if (lv := r.get("level")) is not None})
    for lvl in levels:
        out[lvl] = [p for label, recs in runs
                    for p in run_points(label, [r for r in recs if r.get("level") == lvl], **kw)]
    return out


def frontier(points: Sequence[Point], x: str = "flops") -> list[Point]:
    """The upper envelope: points ordered by cost, each more accurate than every cheaper one."""
    if x not in X_AXES:
        raise ConfigError("x", x, f"must be one of {', '.join(X_AXES)}")
    best = -1.0
    out = []
    for p in sorted((p for p in points if p.get(x) is not None), key=lambda p: (p[x], -p["accuracy"])):
        if p["accuracy"] > best + 1e-12:
            out.append(p)
            best = p["accuracy"]
    return out


def name(p: Point) -> str:
    """`run · method@N` (or `run` for a run's own answers)."""
    return p["run"] if p["n"] is None else f"{p['run']} · {p['method']}@{p['n']}"


def budgets(points: Sequence[Point], x: str = "flops", count: int = 6) -> list[float]:
    """A geometric grid of budgets from the cheapest to the dearest point."""
    xs = [p[x] for p in points if p.get(x)]
    if not xs:
        return []
    lo, hi = min(xs), max(xs)
    if count < 2 or hi <= lo:
        return [hi]
    r = (hi / lo) ** (1 / (count - 1))
    return [lo * r ** i for i in range(count)]


def optimal_table(by_level: dict[Any, list[Point]], x: str = "flops",
                  grid: Sequence[float] | None = None) -> list[dict[str, Any]]:
    """Rows {budget, level → best point within the budget (or None)}: the per-difficulty
    compute-optimal choice at each budget."""
    grid = list(grid) if grid is not None else budgets(by_level.get("all", []), x)
    rows = []
    for b in grid:
        row: dict[str, Any] = {"budget": b}
        for lvl, pts in by_level.items():
            within = [p for p in pts if p.get(x) is not None and p[x] <= b * (1 + 1e-9)]
            row[lvl] = max(within, key=lambda p: (p["accuracy"], -p[x])) if within else None
        rows.append(row)
    return rows


def fmt_compute(v: float | None, x: str = "flops") -> str:
    if v is None:
        return "—"
    if x == "flops":
        exp = int(math.floor(math.log10(v))) if v > 0 else 0
        return f"{v / 10 ** exp:.2f}e{exp}"
    return f"{v:.0f}" if x == "tokens" else f"{v:.1f}"
