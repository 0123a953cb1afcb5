"""Particle filtering over steps (Puri et al. 2025): sample, weight by the PRM, resample.

N particles (full-solution equivalents) each get one new step per depth. Unfinished particles are
then resampled, with replacement, in proportion to softmax(score / temperature) of their last step
score, so promising partial solutions are duplicated and poor ones die out, while the randomness
keeps some diversity (unlike beam search's hard cut). Finished particles are set aside. The answer is
the finished particle with the best aggregated score.
"""

from __future__ import annotations

import math
import random
from typing import Any, cast

from ponder.strategies.base import RunContext
from ponder.strategies.search import Node, Search, SearchOptions, search_spec
from ponder.strategies.spec import opt
from ponder.types import Problem, Result


class ParticleOptions(SearchOptions):
    width: int = opt(1, ge=1, count=True, help="M: children per particle and depth")
    temperature: float = opt(0.5, gt=0, help="resampling temperature: softmax(score / temperature)")


class ParticleFilter(Search):
    name = "particle"
    Options = ParticleOptions

    def __init__(self, n: int = 8, **options: Any) -> None:
        super().__init__(n, **options)
        self.temperature = float(cast(ParticleOptions, self.options).temperature)

    async def run(self, problem: Problem, ctx: RunContext) -> Result:
        counter = [0]
        rng = random.Random(ctx.seed)
        finished: list[Node] = []
        particles = await self.expand(problem, ctx, [Node(id=0, parent=None)], self.n, counter, 0)
        live: list[Node] = []
        for depth in range(1, self.max_steps + 1):
            finished += [p for p in particles if p.done]
            live = [p for p in particles if not p.done]
            if not live:
                break
            top = max(p.last for p in live)
            weights = [math.exp((p.last - top) / self.temperature) for p in live]
            picked = rng.choices(live, weights=weights, k=len(live))
            ctx.event("resample", iteration=depth, weights={p.id: round(w / sum(weights), 4)
                                                           for p, w in zip(live, weights)},
                      picked=[p.id for p in picked])
            # a particle picked several times is extended by that many samples at once
            counts: dict[int, int] = {}
            for p in picked:
                counts[p.id] = counts.get(p.id, 0) + 1
            uniq = [p for p in live if p.id in counts]
            particles = await self.expand(problem, ctx, uniq, [counts[p.id] for p in uniq], counter, depth)
            live = []
        return self.result(problem, ctx, finished, live)


SPECS = (search_spec(ParticleFilter, "particle filtering over steps: resample partial solutions by their scores",
                     "Puri et al. 2025", n_means="particles (full-solution equivalents)"),)
