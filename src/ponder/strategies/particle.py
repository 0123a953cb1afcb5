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
from typing import Any

from ponder.errors import ConfigError
from ponder.strategies.base import RunContext
from ponder.strategies.search import Node, Search
from ponder.types import Problem, Result


class ParticleFilter(Search):
    name = "particle"

    def __init__(self, n: int = 8, *, temperature: float = 0.5, **kw: Any) -> None:
        kw.setdefault("width", 1)
        super().__init__(n, **kw)
        if not isinstance(temperature, (int, float)) or temperature <= 0:
            raise ConfigError("temperature", temperature, "the resampling temperature must be > 0")
        self.temperature = float(temperature)

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
