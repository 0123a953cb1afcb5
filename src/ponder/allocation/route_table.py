"""The route table: per difficulty bin, what each arm (model, N, selection) bought on fitting logs.

`fit_route` reads self-consistency logs of the same fitting questions from several models and prices
every arm per predicted difficulty bin (accuracy and FLOPs per question, the probe paid by arms of
other models); `RouteTable.choose` picks the arm for a bin within a per-question FLOP cap, `plan`
plans all bins together for a mean budget (a Lagrangian over the bins' mix), and `within_pool` keeps a
run-wide FLOP pool. The `route` strategy (`ponder.allocation.route`) and the offline replay
(`ponder.allocation.route_replay`) both read it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ponder.allocation.policy import Policy, fit_policy, logged_probe_features
from ponder.allocation.pools import FlopPool
from ponder.errors import ConfigError
from ponder.voting import PreparedRecord, check_iid

VERSION = 1
METHODS = ("majority", "weighted", "naive")
"""How an arm selects among its N samples: plain majority, score-weighted vote, best score."""


@dataclass
class RouteTable:
    probe_model: str
    probe: int
    predictor: dict[str, Any]
    """The fitted Policy (its predictor is used; its per-bin N are not)."""
    arms: list[dict[str, Any]]
    """{"model", "n", "method", "bins": {bin: {"accuracy", "flops", "count"}}} per arm (a table written
    before arms had a method holds majority votes only)."""
    fitted_on: dict[str, Any]

    @property
    def policy(self) -> Policy:
        return Policy(**self.predictor)

    def models(self) -> list[str]:
        return sorted({a["model"] for a in self.arms} - {self.probe_model})

    def cost(self, arm: dict[str, Any], bin_name: str) -> float | None:
        return (arm["bins"].get(bin_name) or {}).get("flops")

    def probe_cost(self, bin_name: str) -> float:
        """The probe's fitted FLOPs in a bin (the probe model's majority arm at the probe's N)."""
        for a in self.arms:
            if a["model"] == self.probe_model and a["n"] == self.probe and method_of(a) == "majority":
                return self.cost(a, bin_name) or 0.0
        return 0.0

    def choose(self, bin_name: str, budget: float | None, methods: Sequence[str] = METHODS
               ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The arm for a question predicted in `bin_name` (None: stay with the probe) and the arms
        that were considered, as the trace shows them; only arms selecting by one of `methods`."""
        considered = []
        for i, a in enumerate(self.arms):
            b = a["bins"].get(bin_name)
            if not b or method_of(a) not in methods:
                continue
            fits = budget is None or b["flops"] <= budget
            considered.append({"model": a["model"], "n": a["n"], "method": method_of(a), "accuracy": b["accuracy"],
                               "flops": b["flops"], "fits": fits, "_arm": i})
        ok = [c for c in considered if c["fits"]]
        best = max(ok, key=lambda c: (round(c["accuracy"], 6), -c["flops"])) if ok else None
        arm = None if best is None else self.arms[best["_arm"]]
        return arm, [{k: v for k, v in c.items() if k != "_arm"} for c in considered]

    def plan(self, mean_flops: float, cap: float | None = None, methods: Sequence[str] = METHODS
             ) -> tuple[dict[str, dict[str, Any] | None], float]:
        """Per predicted bin, the arm that makes the expected accuracy over the fitting questions' mix of
        bins highest while their mean FLOPs per question stay within `mean_flops` (a batch budget
        divided by its questions): compute moves from bins where it buys little to bins where it buys
        more. Solved as the Lagrangian relaxation of that knapsack — each bin takes the arm maximising
        accuracy − λ·FLOPs, λ bisected to the smallest that fits — so the plan is on the convex hull of
        the bins' accuracy-cost curves. Returns the plan and λ (the accuracy a FLOP must buy; the trace
        shows it). `cap`: a per-question budget every arm must also fit."""
        counts = self.fitted_on.get("predicted_bins") or {}
        total = sum(counts.values()) or 1
        options: dict[str, list[tuple[float, float, int]]] = {}
        for b in counts:
            for i, a in enumerate(self.arms):
                c = a["bins"].get(b)
                if c and method_of(a) in methods and (cap is None or c["flops"] <= cap):
                    options.setdefault(b, []).append((c["accuracy"], c["flops"], i))

        def at(lam: float) -> tuple[dict[str, int], float]:
            pick = {b: max(o, key=lambda x: (x[0] - lam * x[1], -x[1]))[2] for b, o in options.items()}
            cost = sum(counts[b] / total * self.arms[i]["bins"][b]["flops"] for b, i in pick.items())
            return pick, cost

        def arms_of(pick: dict[str, int]) -> dict[str, dict[str, Any] | None]:
            return {b: self.arms[pick[b]] if b in pick else None for b in counts}

        pick, cost = at(0.0)
        if cost <= mean_flops:
            return arms_of(pick), 0.0
        gaps = [abs(x[1] - y[1]) for o in options.values() for x in o for y in o if x[1] != y[1]]
        lo, lam = 0.0, 2.0 / min(gaps) if gaps else 0.0  # at this λ a FLOP costs more than any accuracy buys
        if at(lam)[1] <= mean_flops:  # else even the cheapest arm everywhere is over: take it
            for _ in range(60):
                mid = (lo + lam) / 2
                if at(mid)[1] <= mean_flops:
                    lam = mid
                else:
                    lo = mid
        return arms_of(at(lam)[0]), lam

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "ponder-route", "version": VERSION, **asdict(self)}

    def save(self, path: str | os.PathLike) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)

    @classmethod
    def load(cls, path: str | os.PathLike) -> RouteTable:
        from ponder.files import build, load_json

        d = load_json(path, param="table", what="route table")
        if not isinstance(d, dict) or d.get("kind") != "ponder-route" or d.get("version") != VERSION:
            raise ConfigError("table", str(path), "not a ponder route table; write one with `ponder fit-route`")

        def check(t: RouteTable) -> None:
            t.choose(t.policy.predict([0.5] * len(t.predictor["mean"])), None)
            if not isinstance(t.probe_model, str) or not isinstance(t.probe, int):
                raise TypeError

        return build(cls, d, ("probe_model", "probe", "predictor", "arms", "fitted_on"),
                     param="table", path=path, what="route table", check=check)


def method_of(arm: dict[str, Any]) -> str:
    return str(arm.get("method", "majority"))


def flops_at(rec: dict[str, Any], n: int) -> float | None:
    u = rec.get("usage") or {}
    cands = rec.get("candidates") or []
    evaluated = (u.get("prompt_tokens") or 0) + (u.get("completion_tokens") or 0)
    toks = [c.get("tokens") for c in cands]
    if not u.get("flops_estimate") or not evaluated or not toks or None in toks:
        return None
    per_token = u["flops_estimate"] / evaluated
    return per_token * ((u.get("prompt_tokens") or 0) + sum(toks) / len(toks) * n)


def fit_route(runs: Sequence[tuple[str, Sequence[dict[str, Any]]]], *, probe_model: str | None = None,
              probe: int = 4, subsamples: int = 64, seed: int = 0) -> RouteTable:
    """runs: (model name, records of self-consistency on the fitting questions) per model."""
    if len(runs) < 1:
        raise ConfigError("runs", len(runs), "need at least one run")
    for _, logged in runs:
        check_iid(logged, "fit-route")
    by_model = {m: {r["problem_id"]: r for r in recs if r.get("candidates") and r.get("reference") is not None}
                for m, recs in runs}
    if len(by_model) != len(runs):
        raise ConfigError("runs", [m for m, _ in runs], "give one run per model")
    ids = sorted(set.intersection(*(set(d) for d in by_model.values())))
    if len(ids) < 8:
        raise ConfigError("runs", len(ids), "the runs share fewer than 8 graded questions; run the models on "
                                            "the same fitting split")

    def per_token(m: str) -> float:
        vals = [flops_at(by_model[m][i], 1) for i in ids]
        if any(v is None for v in vals):
            raise ConfigError("runs", m, "has no FLOP estimates in its usage (run it on llama.cpp or transformers)")
        return sum(vals) / len(vals)  # type: ignore[arg-type]

    cost1 = {m: per_token(m) for m in by_model}
    probe_model = probe_model or min(cost1, key=lambda m: cost1[m])
    if probe_model not in by_model:
        raise ConfigError("probe_model", probe_model, f"not one of the runs' models ({', '.join(by_model)})")
    probe_recs = [by_model[probe_model][i] for i in ids]
    pol = fit_policy(probe_recs, probe=probe, seed=seed)
    predicted = {i: pol.predict(logged_probe_features(by_model[probe_model][i], probe)) for i in ids}
    arms = []
    for m, recs in by_model.items():
        n_max = min(len(recs[i]["candidates"]) for i in ids)
        prepared = {i: PreparedRecord(recs[i]) for i in ids}
        scored = all(s is not None for i in ids for s in prepared[i].scores)
        for n in range(1, n_max + 1):
            if m == probe_model and n < probe:
                continue
            for method in METHODS if scored and n > 1 else ("majority",):
                bins: dict[str, dict[str, Any]] = {}
                for b in sorted(set(predicted.values())):
                    members = [i for i in ids if predicted[i] == b]
                    rng = random.Random(f"{seed}:{m}:{n}:{b}" + ("" if method == "majority" else f":{method}"))
                    acc = [prepared[i].accuracy(n, method, rng, subsamples) or 0.0 for i in members]
                    fl = []
                    for i in members:
                        own = flops_at(recs[i], n) or 0.0
                        paid = 0.0 if m == probe_model else flops_at(by_model[probe_model][i], probe) or 0.0
                        fl.append(own + paid)
                    bins[b] = {"accuracy": round(sum(acc) / len(acc), 4), "flops": sum(fl) / len(fl),
                               "count": len(members)}
                arms.append({"model": m, "n": n, "method": method, "bins": bins})
    return RouteTable(probe_model=probe_model, probe=probe, predictor=dataclasses.asdict(pol), arms=arms,
                      fitted_on={"questions": len(ids), "models": sorted(by_model),
                                 "predicted_bins": {b: sum(v == b for v in predicted.values())
                                                    for b in sorted(set(predicted.values()))}})


class Plans:
    """`RouteTable.plan` at a mean budget, made once per budget (to three significant digits: a pool's
    mean moves a little with every question) for one set of selections and per-question cap."""

    def __init__(self, table: RouteTable, cap: float | None, methods: Sequence[str]) -> None:
        self.table, self.cap, self.methods = table, cap, tuple(methods)
        self._made: dict[float, tuple[dict[str, dict[str, Any] | None], float]] = {}

    def at(self, mean: float) -> tuple[dict[str, dict[str, Any] | None], float]:
        key = float(f"{mean:.3g}")
        if key not in self._made:
            self._made[key] = self.table.plan(key, self.cap, self.methods)
        return self._made[key]


def within_pool(table: RouteTable, bin_name: str, arm: dict[str, Any] | None, probe_flops: float, pool: FlopPool,
                 cap: float | None, methods: Sequence[str]) -> tuple[dict[str, Any] | None, float, dict[str, Any]]:
    """The planned `arm` if the pool can spare its FLOPs beyond the probe, else the most accurate arm of
    the bin that fits (None: stay with the probe); with the FLOPs to hold for it and what the trace
    says. An arm's extra FLOPs are its fitted cost less the probe's fitted cost in the bin (so
    selecting differently among the probe's own samples costs nothing); the probe just drawn
    (`probe_flops`) prices the probes kept back for the questions to come. Call after `pool.probed`."""
    spare = pool.spare(probe_flops)
    paid = table.probe_cost(bin_name)

    def extra(a: dict[str, Any] | None) -> float:
        return 0.0 if a is None else max(0.0, (table.cost(a, bin_name) or 0.0) - paid)

    bound = arm is not None and extra(arm) > max(spare, 0.0)
    if bound:
        budget = paid + max(spare, 0.0)
        arm = table.choose(bin_name, budget if cap is None else min(cap, budget), methods)[0]
    return arm, extra(arm), {"pool_spare": spare, "pool_bound": bound}
