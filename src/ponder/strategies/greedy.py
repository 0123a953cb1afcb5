"""Greedy decoding: one sample at temperature 0. The baseline every scaling curve starts from."""

from __future__ import annotations

from typing import Any

from ponder.backends.base import Generator
from ponder.params import SamplingParams
from ponder.strategies.base import RunContext, check_common, finish, sample
from ponder.strategies.spec import Cost, NoOptions, StrategySpec
from ponder.types import Problem, Result
from ponder.verifiers.base import Verifier


class Greedy:
    """N = 1 full solution."""

    name = "greedy"

    def __init__(self, n: int = 1, **options: Any) -> None:
        self.n = SPECS[0].check_n(n)
        NoOptions.parse(options, who=f"strategy {self.name!r}")

    def check(self, generator: Generator, verifier: Verifier | None, params: SamplingParams) -> None:
        check_common(self.name, generator, verifier, needs_verifier=False)

    async def run(self, problem: Problem, ctx: RunContext) -> Result:
        [c] = await sample(problem, ctx, 1, params=ctx.params.merge(temperature=0.0))
        return finish(ctx, self.name, problem, [c], c.answer, 0)


SPECS = (StrategySpec(
    name="greedy", build=Greedy, summary="one sample at temperature 0: the baseline every curve starts from",
    n_means="always 1", default_n=1, fixed_n=1, greedy=True,
    cost=lambda n, o, max_tokens: Cost(samples=1, tokens=max_tokens)),)
