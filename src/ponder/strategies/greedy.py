"""Greedy decoding: one sample at temperature 0. The baseline every scaling curve starts from."""

from __future__ import annotations

from ponder.backends.base import Generator
from ponder.params import SamplingParams
from ponder.strategies.base import RunContext, check_common, finish, sample
from ponder.types import Problem, Result
from ponder.verifiers.base import Verifier


class Greedy:
    """N = 1 full solution."""

    name = "greedy"

    def check(self, generator: Generator, verifier: Verifier | None, params: SamplingParams) -> None:
        check_common(self.name, generator, verifier, needs_verifier=False)

    async def run(self, problem: Problem, ctx: RunContext) -> Result:
        [c] = await sample(problem, ctx, 1, params=ctx.params.merge(temperature=0.0))
        return finish(ctx, self.name, problem, [c], c.answer, 0)
