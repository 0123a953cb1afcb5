"""Best-of-N: draw N samples, return the one the verifier scores highest ("naive" best-of-N).

Ties go to the earliest sample, so with N = 1 it is exactly one plain sample. N = number of samples.
"""

from __future__ import annotations

from typing import Any

from ponder.backends.base import Generator
from ponder.params import SamplingParams
from ponder.strategies.base import RunContext, check_common, check_n, finish, needs_sampling, sample, score
from ponder.strategies.spec import NoOptions, StrategySpec
from ponder.types import Problem, Result
from ponder.verifiers.base import Verifier


class BestOfN:
    name = "best-of-n"

    def __init__(self, n: int = 8, **options: Any) -> None:
        self.n = check_n(n)
        NoOptions.parse(options, who=f"strategy {self.name!r}")

    def check(self, generator: Generator, verifier: Verifier | None, params: SamplingParams) -> None:
        check_common(self.name, generator, verifier, needs_verifier=True)
        if self.n > 1:
            needs_sampling(self.name, params, f"with n={self.n} greedy samples are all identical")

    async def run(self, problem: Problem, ctx: RunContext) -> Result:
        cands = await score(problem, ctx, await sample(problem, ctx, self.n))
        best = max(range(len(cands)), key=lambda i: (cands[i].score or 0.0, -i))
        ctx.event("select", chosen=best, score=cands[best].score)
        return finish(ctx, self.name, problem, cands, cands[best].answer, best)


SPECS = (StrategySpec(name="best-of-n", build=BestOfN, summary="the sample a verifier scores highest (naive best-of-N)",
                      paper="Cobbe et al. 2021; Snell et al. 2024", n_means="samples", verifier="confidence",
                      needs="a verifier (default: the samples' own confidence)"),)
