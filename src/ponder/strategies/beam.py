"""Beam search over steps, guided by a process reward model (as in the Hugging Face study).

N = beams alive at each depth (full-solution equivalents), M = width. The first depth samples N
first steps; after scoring, the best N/M unfinished beams are kept and each is extended by M
children, so every depth costs about N steps. Finished beams are set aside; the search stops when
N have finished, none is left, or max_steps is reached. The answer is the finished beam with the
best aggregated step score.
"""

from __future__ import annotations

from ponder.strategies.base import RunContext
from ponder.strategies.search import Node, Search, search_spec
from ponder.types import Problem, Result


class BeamSearch(Search):
    name = "beam"

    async def run(self, problem: Problem, ctx: RunContext) -> Result:
        counter = [0]
        keep = self.n // self.width
        finished: list[Node] = []
        children = await self.expand(problem, ctx, [Node(id=0, parent=None)], self.n, counter, 0)
        live: list[Node] = []
        for depth in range(1, self.max_steps + 1):
            finished += [c for c in children if c.done]
            live = sorted((c for c in children if not c.done), key=lambda c: (-c.last, c.id))
            if len(finished) >= self.n or not live:
                break
            kept, pruned = live[:keep], live[keep:]
            ctx.event("prune", iteration=depth, kept=[c.id for c in kept], pruned=[c.id for c in pruned])
            children = await self.expand(problem, ctx, kept, self.width, counter, depth)
            live = []
        return self.result(problem, ctx, finished, live)


SPECS = (search_spec(BeamSearch, "beam search over steps guided by a process verifier",
                     "Snell et al. 2024; Beeching et al. 2024"),)
