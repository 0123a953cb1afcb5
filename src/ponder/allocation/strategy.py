"""The `policy` strategy: probe, predict difficulty, spend what the fitted policy says, within an
optional token pool shared by every question of a run.

Each question gets `policy.probe` samples first. The predictor puts it in a difficulty bin and the
policy gives its total N; the extra N − probe samples are drawn only if the shared `TokenPool` (a
run-wide budget in generated tokens) can afford them after keeping back the probe cost of the
questions still to come. The trace says why: features, bin, wanted and granted samples.
"""

from __future__ import annotations

import hashlib

from ponder.allocation.policy import Policy, probe_features
from ponder.backends.base import Generator
from ponder.errors import ConfigError
from ponder.params import SamplingParams
from ponder.strategies.base import RunContext, check_common, finish, sample, score
from ponder.strategies.vote import decide
from ponder.types import Problem, Result
from ponder.verifiers.base import Verifier


class TokenPool:
    """A run-wide budget of generated tokens shared by the questions of one run (explicit, not global)."""

    def __init__(self, total: int, questions: int) -> None:
        if not isinstance(total, int) or total < 1:
            raise ConfigError("total_tokens", total, "must be an integer >= 1")
        self.total, self.left, self.pending = total, total, questions

    def spend(self, tokens: int) -> None:
        self.left -= tokens

    def question_done(self) -> None:
        self.pending = max(0, self.pending - 1)

    def affordable(self, per_sample: float, wanted: int, probe_cost: float) -> int:
        """Extra samples one question may draw, keeping the probes of the others in reserve."""
        reserve = probe_cost * max(self.pending - 1, 0)
        spare = self.left - reserve
        return max(0, min(wanted, int(spare // max(per_sample, 1.0))))


class PolicyStrategy:
    name = "policy"

    def __init__(self, policy: Policy, *, pool: TokenPool | None = None) -> None:
        self.policy, self.pool = policy, pool

    def check(self, generator: Generator, verifier: Verifier | None, params: SamplingParams) -> None:
        check_common(self.name, generator, verifier, needs_verifier=False)
        if params.greedy:
            raise ConfigError("temperature", params.temperature, "the policy strategy votes: temperature > 0")

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
        if self.pool is not None:
            self.pool.spend(spent)
            got = self.pool.affordable(per, want, probe_cost=per * k)
        ctx.event("allocate", features=[round(f, 4) for f in feats], bin=b, probe=k, wanted=want, granted=got,
                  pool_left=None if self.pool is None else self.pool.left)
        if got:
            seed = int.from_bytes(hashlib.sha256(f"{ctx.seed}:extra".encode()).digest()[:8], "big") >> 1
            extra = await sample(problem, ctx, got, seed=seed)
            if self.pool is not None:
                self.pool.spend(sum(c.tokens or 0 for c in extra))
            cands += extra
        if self.pool is not None:
            self.pool.question_done()
        answer, chosen = await decide(cands, ctx, weighted=False)
        return finish(ctx, self.name, problem, cands, answer, chosen)
