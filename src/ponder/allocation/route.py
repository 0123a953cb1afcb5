"""`route`: per question, small model + more samples or larger model + fewer, within a FLOP budget.

Fitted from eval logs of the same fitting questions run with several models (`ponder fit-route`):
- a **probe**: k samples of the question from the cheapest model (the engine's own generator); its
  features go to the fitted policy's nearest-centroid difficulty predictor
  (`ponder.allocation.policy`, bins by the probe model's pass rate: hopeless, hard, medium, easy);
- **arms**: (model, N, selection) read off the logs, every N up to the log's — majority vote over N
  samples (every N, not only powers of two: a budget between 4 and 8 samples buys 6), and where the
  logs carry verifier scores (`-v confidence`) the score-weighted vote and best-of-N too — each with
  its accuracy and FLOPs per question measured on the fitting questions the predictor puts in each
  bin (predicted bins, so the predictor's mistakes are priced in). The probe's own model at N reuses
  the k probe samples; another model pays for the probe and its N samples. Arms that select by
  score are considered only when the run has a verifier (`-v confidence`: no extra calls);
- at run time the question goes to the most accurate arm for its predicted bin whose FLOPs fit the
  per-question budget (`flops`; none: the most accurate, the cheaper on a tie), or stays with the
  probe's majority when nothing else fits. With a mean budget (`mean_flops`: a batch budget divided
  by its questions) the arms of all bins are planned together (`RouteTable.plan`): easy bins take
  cheap arms so hard ones can take dear ones, the mean over the fitting questions' mix of bins
  within the budget. With a **FLOP pool** (`pool`, a `FlopPool` shared by every question of a run:
  `ponder eval --total-flops`) each question is planned at what is left per question still to come
  (`FlopPool.mean`) and the pool is a hard cap: a question whose planned arm costs more than the
  pool can spare (after keeping a probe back for every question still to come) takes the most
  accurate arm of its bin that fits, or stays with the probe. The trace's `route` event says why:
  features, bin, the arms considered with their accuracy and cost, the choice, and with a pool what
  was spare and whether the pool bound.

FLOPs are llama.cpp's `flops_estimate` (2 × parameters × tokens evaluated), so a 0.5B and a 1.5B
model compare fairly. Arms on models other than the engine's need their generators bound before a
run (`bind`); the CLI loads them from the table's model names.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ponder.allocation.policy import Policy, fit_policy, logged_probe_features, probe_features
from ponder.allocation.pools import FlopPool
from ponder.backends.base import Generator
from ponder.errors import ConfigError
from ponder.params import SamplingParams
from ponder.strategies.adaptive import _round_seed
from ponder.strategies.base import RunContext, check_common, check_n, finish, needs_sampling, sample, score
from ponder.strategies.spec import Cost, Options, StrategySpec, opt
from ponder.strategies.vote import decide
from ponder.types import Candidate, Problem, Result
from ponder.verifiers.base import Verifier
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
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except (OSError, ValueError) as e:
            raise ConfigError("table", str(path), f"cannot read a route table: {e}") from e
        if not isinstance(d, dict) or d.get("kind") != "ponder-route" or d.get("version") != VERSION:
            raise ConfigError("table", str(path), "not a ponder route table; write one with `ponder fit-route`")
        return cls(**{k: d[k] for k in ("probe_model", "probe", "predictor", "arms", "fitted_on")})


def method_of(arm: dict[str, Any]) -> str:
    return str(arm.get("method", "majority"))


def _flops_at(rec: dict[str, Any], n: int) -> float | None:
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
        vals = [_flops_at(by_model[m][i], 1) for i in ids]
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
                        own = _flops_at(recs[i], n) or 0.0
                        paid = 0.0 if m == probe_model else _flops_at(by_model[probe_model][i], probe) or 0.0
                        fl.append(own + paid)
                    bins[b] = {"accuracy": round(sum(acc) / len(acc), 4), "flops": sum(fl) / len(fl),
                               "count": len(members)}
                arms.append({"model": m, "n": n, "method": method, "bins": bins})
    return RouteTable(probe_model=probe_model, probe=probe, predictor=dataclasses.asdict(pol), arms=arms,
                      fitted_on={"questions": len(ids), "models": sorted(by_model),
                                 "predicted_bins": {b: sum(v == b for v in predicted.values())
                                                    for b in sorted(set(predicted.values()))}})


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
    plans = _Plans(t, budget, methods)
    out = []
    for pid, rec in usable.items():
        b = pol.predict(logged_probe_features(rec, t.probe))
        mean = mean_flops if mean_flops is not None or pool is None else pool.mean
        arm = plans.at(mean)[0].get(b) if mean is not None else t.choose(b, budget, methods)[0]
        probe_flops = _flops_at(rec, t.probe)
        extra: dict[str, Any] = {}
        if pool is not None:
            pool.probed(probe_flops or 0.0)
            arm, _, info = _within_pool(t, b, arm, probe_flops or 0.0, pool, budget, methods)
            extra = {"pool_bound": info["pool_bound"]}
        model, n = (t.probe_model, t.probe) if arm is None else (arm["model"], arm["n"])
        method = "majority" if arm is None else method_of(arm)
        if model == t.probe_model:
            n = max(n, t.probe)
            if n > len(rec["candidates"]):
                continue
            acc = _probe_then_more(PreparedRecord(rec), t.probe, n, random.Random(f"{seed}:{pid}:{n}"), subsamples,
                                   method)
            flops = _flops_at(rec, n)
        else:
            prep, other = others.get(model, {}).get(pid), raw.get(model, {}).get(pid)
            if prep is None or other is None or n > prep.k:
                continue
            acc = prep.accuracy(n, method, random.Random(f"{seed}:{pid}:{model}:{n}"), subsamples) or 0.0
            own = _flops_at(other, n)
            flops = None if own is None or probe_flops is None else own + probe_flops
        if pool is not None:
            pool.hold((flops or 0.0) - (probe_flops or 0.0))
        out.append({"problem_id": pid, "level": rec.get("level"), "bin": b, "model": model, "n": n,
                    "method": method, "accuracy": acc, "flops": flops, **extra})
    return out


class _Plans:
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


def _within_pool(table: RouteTable, bin_name: str, arm: dict[str, Any] | None, probe_flops: float, pool: FlopPool,
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


def _probe_then_more(rec: PreparedRecord, probe: int, n: int, rng: random.Random, subsamples: int,
                     method: str = "majority") -> float:
    """Expected accuracy of selecting (`method`) among the first `probe` samples plus n − probe of the others."""
    rest = list(range(probe, rec.k))
    extra = n - probe
    draws = [()] if extra <= 0 else [tuple(rng.sample(rest, extra)) for _ in range(subsamples)]
    return sum(rec.select_correct([*range(min(probe, n)), *d], method) for d in draws) / len(draws)


class RouteOptions(Options):
    table: str | Path | RouteTable = opt(file="route-table", help="the route table (ponder fit-route)",
                                         missing="route needs --option table=FILE (written by ponder fit-route)")
    flops: float | None = opt(None, gt=0, budget=True, help="per-question FLOP cap")
    mean_flops: float | None = opt(None, gt=0, budget=True, help="mean FLOPs per question, planned over the "
                                                                  "difficulty bins")


def route_cost(n: int, o: RouteOptions, max_tokens: int) -> Cost:
    """The probe on the engine's model, then at most n samples of one arm (maybe another model)."""
    probe = o.table.probe if isinstance(o.table, RouteTable) else n
    return Cost(samples=probe + n, tokens=(probe + n) * max_tokens, arm_tokens=n * max_tokens)


class Route:
    name = "route"

    def __init__(self, n: int = 16, *, pool: FlopPool | None = None, arms: Mapping[str, Generator] | None = None,
                 **options: Any) -> None:
        o = RouteOptions.parse(options, who=f"strategy {self.name!r}")
        self.n = check_n(n)
        self.table = o.table if isinstance(o.table, RouteTable) else RouteTable.load(o.table)
        if pool is not None and not isinstance(pool, FlopPool):
            raise ConfigError("pool", pool, "must be a FlopPool (ponder eval --total-flops)")
        self.flops = o.flops
        self.mean_flops = o.mean_flops
        self.pool = pool
        self.arms: dict[str, Generator] = dict(arms or {})
        self._plans: dict[tuple[str, ...], _Plans] = {}
        """The plans per set of selections (they depend on the run's verifier), each made once per budget."""

    @property
    def default_model(self) -> str:
        """The engine's own model: the one that probes."""
        return self.table.probe_model

    @property
    def models(self) -> list[str]:
        """Models besides the engine's own that this strategy needs (the front end binds them)."""
        return self.table.models()

    def bind(self, generators: Mapping[str, Generator]) -> None:
        self.arms.update(generators)

    def check(self, generator: Generator, verifier: Verifier | None, params: SamplingParams) -> None:
        check_common(self.name, generator, verifier, needs_verifier=False)
        needs_sampling(self.name, params)
        missing = [m for m in self.models if m not in self.arms]
        if missing:
            raise ConfigError("table", missing, "the route table names models with no generator bound; load them "
                                                "(the CLI does) or pass arms={model: generator}")

    async def run(self, problem: Problem, ctx: RunContext) -> Result:
        t = self.table
        probe = await sample(problem, ctx, t.probe, seed=_round_seed(ctx.seed, 0))
        probe_flops = ctx.usage.flops_estimate
        feats = probe_features(probe)
        b = t.policy.predict(feats)
        methods = METHODS if ctx.verifier is not None else ("majority",)  # scores need a verifier
        arm, considered = t.choose(b, self.flops, methods)
        planned: dict[str, Any] = {}
        mean = self.mean_flops if self.mean_flops is not None or self.pool is None else self.pool.mean
        if mean is not None:  # the bin's arm in the plan for the whole mix of bins
            plans = self._plans.setdefault(methods, _Plans(t, self.flops, methods))
            plan, lam = plans.at(mean)
            arm = plan.get(b)
            planned = {"mean_flops": mean, "accuracy_per_flop": lam}
        held = 0.0
        if self.pool is not None:  # no await from here to the hold: concurrent questions see it
            paid = probe_flops if probe_flops is not None else t.probe_cost(b)  # a backend with no FLOP count
            self.pool.probed(paid)
            arm, held, info = _within_pool(t, b, arm, paid, self.pool, self.flops, methods)
            self.pool.hold(held)
            planned.update(info)
        ctx.event("route", features=[round(f, 4) for f in feats], bin=b, budget_flops=self.flops, **planned,
                  considered=considered, chosen=None if arm is None else
                  {"model": arm["model"], "n": arm["n"], "method": method_of(arm)})
        try:
            return await self._answer(problem, ctx, probe, arm)
        finally:
            if self.pool is not None:
                after = ctx.usage.flops_estimate
                spent = held if after is None or probe_flops is None else after - probe_flops
                self.pool.settle(held, spent)

    async def _answer(self, problem: Problem, ctx: RunContext, probe: list[Candidate],
                      arm: dict[str, Any] | None) -> Result:
        """The arm's samples (none: the probe's alone) and the answer its selection gives."""
        t = self.table
        cands: list[Candidate] = list(probe)
        first = 0  # the candidates that select: all of them, or only another model's arm
        if arm is not None:
            n = min(arm["n"], self.n)
            if arm["model"] == t.probe_model:
                if n > len(probe):
                    cands += await sample(problem, ctx, n - len(probe), seed=_round_seed(ctx.seed, 1))
            else:
                sub = dataclasses.replace(ctx, generator=self.arms[arm["model"]])
                got = await sample(problem, sub, n, seed=_round_seed(ctx.seed, 1))
                ctx.usage = sub.usage
                cands += got
                first = len(probe)  # the arm's samples select, as fitted
        return await select_from(problem, ctx, self.name, cands, first, "majority" if arm is None else method_of(arm))


async def select_from(problem: Problem, ctx: RunContext, strategy: str, cands: list[Candidate], first: int,
                      method: str) -> Result:
    """The result whose answer `method` picks among `cands[first:]` (scored first unless it is a plain
    majority); the earlier candidates stay in the result but do not vote. Shared by route and cascade."""
    if method != "majority":
        cands[first:] = await score(problem, ctx, cands[first:])
    if method == "naive":
        best = max(range(first, len(cands)), key=lambda i: (cands[i].score or 0.0, -i))
        ctx.event("select", chosen=best, score=cands[best].score)
        return finish(ctx, strategy, problem, cands, cands[best].answer, best)
    voters = [c if i >= first else dataclasses.replace(c, answer=None) for i, c in enumerate(cands)]
    answer, chosen = await decide(voters, ctx, weighted=method == "weighted")
    return finish(ctx, strategy, problem, cands, answer, chosen)


SPECS = (StrategySpec(name="route", build=Route, options=RouteOptions,
                      summary="per question: the small model with more samples or a larger one with fewer, within "
                              "a FLOP budget, by a fitted table",
                      paper="Snell et al. 2024 (compute-optimal scaling)", n_means="the most samples of any arm",
                      default_n=16, models=True, pool="flops", server=False,
                      needs="a route table (ponder fit-route); the table's models", cost=route_cost),)
