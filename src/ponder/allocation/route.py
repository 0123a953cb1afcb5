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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ponder.allocation.policy import probe_features
from ponder.allocation.pools import FlopPool
from ponder.allocation.route_table import METHODS, Plans, RouteTable, method_of, within_pool
from ponder.backends.base import Generator
from ponder.errors import ConfigError
from ponder.params import SamplingParams
from ponder.strategies.adaptive import _round_seed
from ponder.strategies.base import RunContext, check_common, check_n, finish, needs_sampling, sample, score
from ponder.strategies.spec import Cost, Options, StrategySpec, opt
from ponder.strategies.vote import decide
from ponder.types import Candidate, Problem, Result
from ponder.verifiers.base import Verifier

__all__ = ["Route", "RouteOptions", "RouteTable", "select_from"]


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
        self._plans: dict[tuple[str, ...], Plans] = {}
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
            plans = self._plans.setdefault(methods, Plans(t, self.flops, methods))
            plan, lam = plans.at(mean)
            arm = plan.get(b)
            planned = {"mean_flops": mean, "accuracy_per_flop": lam}
        held = 0.0
        if self.pool is not None:  # no await from here to the hold: concurrent questions see it
            paid = probe_flops if probe_flops is not None else t.probe_cost(b)  # a backend with no FLOP count
            self.pool.probed(paid)
            arm, held, info = within_pool(t, b, arm, paid, self.pool, self.flops, methods)
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
