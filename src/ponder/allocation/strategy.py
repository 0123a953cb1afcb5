"""The `policy` strategy: probe, predict difficulty, spend what the fitted policy says, within an
optional token pool shared by every question of a run.

Each question gets `policy.probe` samples first. The predictor puts it in a difficulty bin and the
policy gives its total N; the extra N − probe samples are drawn only if the shared `TokenPool` (a
run-wide budget in generated tokens) can afford them after keeping back the probe cost of the
questions still to come. The trace says why: features, bin, wanted and granted samples.

The pool (`ponder.allocation.pools`) is granted samples priced at the question's longest probe sample.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ponder.allocation.policy import Policy, probe_features
from ponder.allocation.pools import TokenPool
from ponder.backends.base import Generator
from ponder.errors import ConfigError
from ponder.params import SamplingParams
from ponder.strategies.base import RunContext, check_common, check_n, derive_seed, finish, needs_sampling, sample, score
from ponder.strategies.spec import Cost, Options, StrategySpec, opt
from ponder.strategies.vote import decide
from ponder.types import Problem, Result
from ponder.verifiers.base import Verifier


class PolicyOptions(Options):
    policy: str | Path | Policy = opt(file="policy", help="the difficulty policy (ponder fit-policy)",
                                      missing="policy needs --option policy=FILE (written by ponder fit-policy)")


def policy_cost(n: int, o: PolicyOptions, max_tokens: int) -> Cost:
    """The probe, then the policy's N for the question's bin (its largest N at most)."""
    most = max([o.policy.probe, *(o.policy.n_for(b) for b in o.policy.bins)]) if isinstance(o.policy, Policy) else n
    return Cost(samples=most, tokens=most * max_tokens)


class PolicyStrategy:
    name = "policy"

    def __init__(self, n: int | Policy = 16, *, pool: TokenPool | None = None, **options: Any) -> None:
        if isinstance(n, Policy):  # PolicyStrategy(policy): the policy alone sets how many samples
            options["policy"], n = n, 16
        o = PolicyOptions.parse(options, who=f"strategy {self.name!r}")
        self.n = check_n(n)
        self.policy = o.policy if isinstance(o.policy, Policy) else Policy.load(o.policy)
        if pool is not None and not isinstance(pool, TokenPool):
            raise ConfigError("pool", pool, "must be a TokenPool (ponder eval --total-tokens)")
        self.pool = pool

    def check(self, generator: Generator, verifier: Verifier | None, params: SamplingParams) -> None:
        check_common(self.name, generator, verifier, needs_verifier=False)
        needs_sampling(self.name, params)

    async def run(self, problem: Problem, ctx: RunContext) -> Result:
        k = self.policy.probe
        cands = await sample(problem, ctx, k)
        if ctx.verifier is not None:
            cands = await score(problem, ctx, cands)
        spent = sum(c.tokens or 0 for c in cands)
        feats = probe_features(cands)
        b = self.policy.predict(feats)
        want = max(0, self.policy.n_for(b) - k)
        got = want
        per = spent / max(len(cands), 1)
        held = 0
        if self.pool is not None:
            self.pool.probed(spent)
            longest = max((c.tokens or 0 for c in cands), default=0)  # the mean never exceeds it
            got, held = self.pool.grant(longest, want, probe_cost=per * k)
        ctx.event("allocate", features=[round(f, 4) for f in feats], bin=b, probe=k, wanted=want, granted=got,
                  pool_left=None if self.pool is None else self.pool.left)
        action = self.policy.action_for(b)
        if got and action is not None:  # this bin revises instead of voting more: the probe starts the chains
            from ponder.strategies.revise import Revise

            ctx.event("mix", **action)
            revise = Revise(k + got, **{**action.get("options", {}), "chains": min(action.get("options", {}).get(
                "chains", 1), k + got)})
            before = ctx.usage.completion_tokens or 0
            try:
                res = await revise.run_from(problem, ctx, cands)
            finally:
                if self.pool is not None:
                    self.pool.settle(held, (ctx.usage.completion_tokens or 0) - before)
            return dataclasses.replace(res, strategy=self.name)
        if got:
            seed = derive_seed(ctx.seed, "extra")
            extra: list = []
            try:
                extra = await sample(problem, ctx, got, seed=seed)
            finally:
                if self.pool is not None:
                    self.pool.settle(held, sum(c.tokens or 0 for c in extra))
            cands += extra
        answer, chosen = await decide(cands, ctx, weighted=False)
        return finish(ctx, self.name, problem, cands, answer, chosen)


SPECS = (StrategySpec(name="policy", build=PolicyStrategy, options=PolicyOptions,
                      summary="probe, predict the question's difficulty, draw the samples a fitted policy gives it",
                      paper="Snell et al. 2024; Damani et al. 2024",
                      n_means="unused: the policy sets each question's N",
                      default_n=16, pool="tokens", server=False, needs="a policy file (ponder fit-policy)",
                      cost=policy_cost),)
