"""Diverse verifier tree search (DVTS, Beeching et al. 2024): N/M independent subtrees.

The first depth samples N first steps and deals them into N/M subtrees of M. In each subtree only
the best-scored node is kept and extended by M children, greedily, until it finishes; subtrees never
compete, which keeps the search diverse where beam search collapses onto one prefix. Each depth costs
about N steps (N full-solution equivalents). The answer is the best finished subtree.
"""

from __future__ import annotations

from ponder.strategies.base import RunContext
from ponder.strategies.search import Node, Search, search_spec
from ponder.types import Problem, Result


class DVTS(Search):
    name = "dvts"

    async def run(self, problem: Problem, ctx: RunContext) -> Result:
        counter = [0]
        m = self.width
        first = await self.expand(problem, ctx, [Node(id=0, parent=None)], self.n, counter, 0)
        groups = [first[i:i + m] for i in range(0, len(first), m)]
        best = [max(g, key=lambda c: (c.last, -c.id)) for g in groups if g]
        finished = [b for b in best if b.done]
        live = [b for b in best if not b.done]
        for depth in range(1, self.max_steps + 1):
            if not live:
                break
            ctx.event("prune", iteration=depth, kept=[b.id for b in live])
            children = await self.expand(problem, ctx, live, m, counter, depth)
            by_parent: dict[int, list[Node]] = {}
            for c in children:
                by_parent.setdefault(c.parent, []).append(c)  # type: ignore[arg-type]
            nxt = [max(by_parent[b.id], key=lambda c: (c.last, -c.id)) for b in live if b.id in by_parent]
            finished += [b for b in nxt if b.done]
            live = [b for b in nxt if not b.done]
        return self.result(problem, ctx, finished, live)


SPECS = (search_spec(DVTS, "diverse verifier tree search: N/M independent greedy subtrees",
                     "Beeching et al. 2024"),)
