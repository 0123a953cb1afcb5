"""What `route` would have done on logged questions, with no new sampling (for fitting checks and the
held-out frontier in bench/): the same table, plans and pool as the strategy, read off logs."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from ponder.allocation.policy import logged_probe_features
from ponder.allocation.pools import FlopPool
from ponder.allocation.route_table import METHODS, Plans, RouteTable, flops_at, method_of, within_pool
from ponder.errors import ConfigError
from ponder.voting import PreparedRecord


def replay_route(table: RouteTable, runs: Mapping[str, Sequence[dict[str, Any]]], *, budget: float | None = None,
                 subsamples: int = 64, seed: int = 0, methods: Sequence[str] = METHODS,
                 mean_flops: float | None = None, total_flops: float | None = None) -> list[dict[str, Any]]:
    """What `route` would have done on logged questions, with no new sampling: per question of the
    probe model's log that every needed model's log also holds, {problem_id, level, bin, model, n,
    method, accuracy, flops}. `methods`: the selections route may use (majority only: as a run
    without a verifier); `mean_flops`: a mean per-question budget, planned over the bins
    (`RouteTable.plan`), besides or instead of the per-question `budget`; `total_flops`: a FLOP pool
    for all the questions replayed, in the log's order (`FlopPool`: planned at its mean unless
    `mean_flops` is given, spent at the logged cost; rows then carry `pool_bound`).

    `runs`: model name → self-consistency records of the same (reporting) questions. The probe is the
    probe model's first `probe` logged samples, as the strategy draws them; staying with the probe
    model at N votes over the probe's samples and N − probe more of its logged samples (the expected
    accuracy over up to `subsamples` draws of those from the rest of the log: the probe, which chose
    the arm, stays fixed); another model's arm is its expected majority accuracy over subsets of N of
    its logged samples (they are independent of the probe). FLOPs count the probe and the arm's
    samples as the strategy pays them. A question whose arm needs more samples than a log holds is
    dropped (the caller sees fewer rows)."""
    t = table
    probe_recs = {r["problem_id"]: r for r in runs.get(t.probe_model, ()) if r.get("candidates")}
    if not probe_recs:
        raise ConfigError("runs", sorted(runs), f"no log of the probe model {t.probe_model}")
    others = {m: {r["problem_id"]: PreparedRecord(r) for r in recs if r.get("candidates")}
              for m, recs in runs.items() if m != t.probe_model}
    raw = {m: {r["problem_id"]: r for r in recs} for m, recs in runs.items()}
    pol = t.policy
    usable = {pid: rec for pid, rec in probe_recs.items() if len(rec["candidates"]) >= t.probe}
    pool = None if total_flops is None else FlopPool(total_flops, max(len(usable), 1))
    plans = Plans(t, budget, methods)
    out = []
    for pid, rec in usable.items():
        b = pol.predict(logged_probe_features(rec, t.probe))
        mean = mean_flops if mean_flops is not None or pool is None else pool.mean
        arm = plans.at(mean)[0].get(b) if mean is not None else t.choose(b, budget, methods)[0]
        probe_flops = flops_at(rec, t.probe)
        extra: dict[str, Any] = {}
        if pool is not None:
            pool.probed(probe_flops or 0.0)
            arm, _, info = within_pool(t, b, arm, probe_flops or 0.0, pool, budget, methods)
            extra = {"pool_bound": info["pool_bound"]}
        model, n = (t.probe_model, t.probe) if arm is None else (arm["model"], arm["n"])
        method = "majority" if arm is None else method_of(arm)
        if model == t.probe_model:
            n = max(n, t.probe)
            if n > len(rec["candidates"]):
                continue
            acc = probe_then_more(PreparedRecord(rec), t.probe, n, random.Random(f"{seed}:{pid}:{n}"), subsamples,
                                   method)
            flops = flops_at(rec, n)
        else:
            prep, other = others.get(model, {}).get(pid), raw.get(model, {}).get(pid)
            if prep is None or other is None or n > prep.k:
                continue
            acc = prep.accuracy(n, method, random.Random(f"{seed}:{pid}:{model}:{n}"), subsamples) or 0.0
            own = flops_at(other, n)
            flops = None if own is None or probe_flops is None else own + probe_flops
        if pool is not None:
            pool.hold((flops or 0.0) - (probe_flops or 0.0))
        out.append({"problem_id": pid, "level": rec.get("level"), "bin": b, "model": model, "n": n,
                    "method": method, "accuracy": acc, "flops": flops, **extra})
    return out


def probe_then_more(rec: PreparedRecord, probe: int, n: int, rng: random.Random, subsamples: int,
                     method: str = "majority") -> float:
    """Expected accuracy of selecting (`method`) among the first `probe` samples plus n − probe of the others."""
    rest = list(range(probe, rec.k))
    extra = n - probe
    draws = [()] if extra <= 0 else [tuple(rng.sample(rest, extra)) for _ in range(subsamples)]
    return sum(rec.select_correct([*range(min(probe, n)), *d], method) for d in draws) / len(draws)
