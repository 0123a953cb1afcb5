"""The `policy` strategy: probe, predict difficulty, spend what the fitted policy says, within an
optional token pool shared by every question of a run.

Each question gets `policy.probe` samples first. The predictor puts it in a difficulty bin and the
policy gives its total N; the extra N − probe samples are drawn only if the shared `TokenPool` (a
run-wide budget in generated tokens) can afford them after keeping back the probe cost of the
questions still to come. The trace says why: features, bin, wanted and granted samples.

Questions run concurrently, so the pool reserves before it spends: a grant takes its tokens out of
the pool at once (estimated from the question's longest probe sample), and `settle` returns what the
samples did not use. Checking, awaiting the samples and only then spending let five concurrent
questions each spend the same spare tokens (a pool of 150 spent 240).
"""

from __future__ import annotations

import dataclasses
import math

from ponder.allocation.policy import Policy, probe_features
from ponder.backends.base import Generator
from ponder.errors import ConfigError
from ponder.params import SamplingParams
from ponder.strategies.base import RunContext, check_common, derive_seed, finish, needs_sampling, sample, score
from ponder.strategies.vote import decide
from ponder.types import Problem, Result
from ponder.verifiers.base import Verifier


class TokenPool:
    """A run-wide budget of generated tokens shared by the questions of one run (explicit, not global).

    It keeps back the first round (the probe) of every question that has not drawn it yet, so a
    question that comes late still gets one; the rest goes to whoever asks first."""

    def __init__(self, total: int, questions: int, *, spent: int = 0) -> None:
        """`questions`: those still to run; `spent`: tokens the run's earlier questions generated (a
        resumed run)."""
        if not isinstance(total, int) or total < 1:
            raise ConfigError("total_tokens", total, "must be an integer >= 1")
        self.total, self.left, self.unprobed = total, total - spent, questions

    def probed(self, tokens: int) -> None:
        """A question's first round is drawn: its tokens are spent and no longer kept back."""
        self.left -= tokens
        self.unprobed = max(0, self.unprobed - 1)

    def grant(self, per_sample: float, wanted: int, probe_cost: float) -> tuple[int, int]:
        """Extra samples one question may draw, and the tokens held for them: taken out of the pool
        now, so questions deciding while these samples are drawn cannot spend them too."""
        got = self.affordable(per_sample, wanted, probe_cost)
        held = math.ceil(got * per_sample)
        self.left -= held
        return got, held

    def settle(self, held: int, spent: int) -> None:
        """Return to the pool what a grant held but its samples did not use (or take the excess)."""
        self.left += held - spent

    def affordable(self, per_sample: float, wanted: int, probe_cost: float) -> int:
        """Extra samples one question may draw, keeping the probes of the questions not yet probed
        (those in flight included: their tokens are not spent yet) in reserve."""
        spare = self.left - probe_cost * self.unprobed
        return max(0, min(wanted, int(spare // max(per_sample, 1.0))))


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
