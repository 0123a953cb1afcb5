"""`cascade`: keep the small model's answer when its probe samples agree, else ask the larger model.

The router that needs no fitting. `route` guesses a question's difficulty from a probe and prices
arms per difficulty bin on fitting logs; with tens of fitting questions per bin those prices are
noisy. Agreement needs no price: when `probe` samples of the engine's (small) model all give the
same answer, that answer is kept; otherwise the question goes to `large`, which draws `n` samples
whose `method` (majority, or with a verifier the score-weighted vote or best score) gives the
answer. The probe's tokens and FLOPs count; its samples stay in the result but do not vote once the
large model is asked (they disagreed). It pays only where the small model's agreement is a sign of
being right, which depends on the model and the set (bench/experiments/small-vs-large/ measures
both cases); `bench/experiments/small-vs-large/cascade.py` replays it on two models' logs to say
which a set is before running it.

The large model's generator is bound by the front end, as for `route` (`models`, `bind`): the CLI
loads it on the engine's backend, the server only ever uses what the operator loaded at start-up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from ponder.allocation.route import select_from
from ponder.backends.base import Generator, require
from ponder.errors import ConfigError
from ponder.params import SamplingParams
from ponder.strategies.adaptive import _round_seed
from ponder.strategies.base import RunContext, check_common, check_n, finish, needs_sampling, sample
from ponder.strategies.spec import Cost, Options, StrategySpec, opt
from ponder.types import Problem, Result
from ponder.verifiers.base import Verifier


class CascadeOptions(Options):
    large: str = opt(help="the larger model (a packaged or distilled name, or a GGUF path)",
                     missing="cascade needs --option large=MODEL (the larger model: a packaged name or GGUF path)")
    probe: int = opt(2, ge=1, count=True, help="small-model samples that must agree")
    method: Literal["majority", "weighted", "naive"] = opt("majority", help="how the large model's samples select")


def cascade_cost(n: int, o: CascadeOptions, max_tokens: int) -> Cost:
    return Cost(samples=o.probe + n, tokens=(o.probe + n) * max_tokens, arm_tokens=n * max_tokens)


class Cascade:
    name = "cascade"
    default_model: str | None = None
    """The engine's own (small) model is whatever the user loads."""

    def __init__(self, n: int = 4, *, arms: Mapping[str, Generator] | None = None, **options: Any) -> None:
        o = CascadeOptions.parse(options, who=f"strategy {self.name!r}")
        self.n = check_n(n)
        if not o.large:
            raise ConfigError("large", o.large, "name the larger model (a packaged name or a GGUF path)")
        self.large = o.large
        self.probe = o.probe
        self.method = o.method
        self.arms: dict[str, Generator] = dict(arms or {})

    @property
    def models(self) -> list[str]:
        """Models besides the engine's own that this strategy needs (the front end binds them)."""
        return [self.large]

    def bind(self, generators: Mapping[str, Generator]) -> None:
        self.arms.update(generators)

    def check(self, generator: Generator, verifier: Verifier | None, params: SamplingParams) -> None:
        check_common(self.name, generator, verifier, needs_verifier=self.method != "majority")
        needs_sampling(self.name, params)
        if self.large not in self.arms:
            raise ConfigError("large", self.large, "no generator bound for it; the CLI loads it, a server must "
                                                   "load it at start-up (arms=...), Python passes arms={name: gen}")
        if verifier is not None:
            require(self.arms[self.large], logprobs=verifier.logprobs, who=f"verifier {verifier.name!r}")

    async def run(self, problem: Problem, ctx: RunContext) -> Result:
        probe = await sample(problem, ctx, self.probe, seed=_round_seed(ctx.seed, 0))
        answers = [c.answer for c in probe]
        agreed = None not in answers and len(set(answers)) == 1
        ctx.event("cascade", probe_answers=answers, agreed=agreed,
                  chosen=None if agreed else {"model": self.large, "n": self.n, "method": self.method})
        if agreed:
            return finish(ctx, self.name, problem, probe, answers[0], 0)
        sub = dataclasses.replace(ctx, generator=self.arms[self.large])
        got = await sample(problem, sub, self.n, seed=_round_seed(ctx.seed, 1))
        ctx.usage = sub.usage
        return await select_from(problem, ctx, self.name, [*probe, *got], len(probe), self.method)


SPECS = (StrategySpec(name="cascade", build=Cascade, options=CascadeOptions,
                      summary="keep the small model's answer when its probe samples agree, else ask the larger model",
                      paper="Chen et al. 2023 (FrugalGPT)", n_means="the larger model's samples", default_n=4,
                      models=True, server=False, needs="the larger model (loaded by the operator on a server)",
                      cost=cascade_cost),)
