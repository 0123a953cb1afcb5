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

from ponder.allocation.policy import Policy, probe_features
from ponder.allocation.pools import TokenPool
from ponder.backends.base import Generator
from ponder.params import SamplingParams
from ponder.strategies.base import RunContext, check_common, derive_seed, finish, needs_sampling, sample, score
from ponder.strategies.vote import decide
from ponder.types import Problem, Result
from ponder.verifiers.base import Verifier


class PolicyStrategy:
    name = "policy"

    def __init__(self, policy: Policy, *, pool: TokenPool | None = None) -> None:
        self.policy, self.pool = policy, pool

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
