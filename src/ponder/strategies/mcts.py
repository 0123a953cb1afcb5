"""Monte Carlo tree search over steps, with the process reward model as the value function.

Each iteration walks from the root by UCT (mean value + c·sqrt(ln N_parent / N_child)) to a node
that may grow (a leaf, or, by progressive widening, a node with at most M·ceil(sqrt(visits))
children), expands it with M sampled next steps (one batched call), scores them with the verifier, and backs
the best child's score up the path (no random rollouts: the PRM judges partial solutions). It stops
when N solutions have finished (N full-solution equivalents), the tree is exhausted, or
N × max_steps / M iterations have run. The answer is the finished solution with the best
aggregated score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, cast

from ponder.strategies.base import RunContext
from ponder.strategies.search import Node, Search, SearchOptions, search_spec
from ponder.strategies.spec import opt
from ponder.types import Problem, Result


@dataclass
class _Stat:
    node: Node
    visits: int = 0
    value: float = 0.0
    children: list[int] = field(default_factory=list)
    expanded: bool = False


class MCTSOptions(SearchOptions):
    c: float = opt(1.0, ge=0, help="UCT exploration constant")


class MCTS(Search):
    name = "mcts"
    Options = MCTSOptions

    def __init__(self, n: int = 8, **options: Any) -> None:
        super().__init__(n, **options)
        self.c = float(cast(MCTSOptions, self.options).c)

    def _uct(self, parent: _Stat, child: _Stat) -> float:
        if child.visits == 0:
            return math.inf
        return child.value / child.visits + self.c * math.sqrt(math.log(parent.visits + 1) / child.visits)

    def _widen(self, s: _Stat) -> bool:
        """Progressive widening: a node may take M more children once its visits grow (it has at
        most M × ceil(sqrt(visits)) children), so a poor first draw at a node is not final."""
        return len(s.children) < self.width * math.ceil(math.sqrt(max(s.visits, 1)))

    async def run(self, problem: Problem, ctx: RunContext) -> Result:
        counter = [0]
        tree = {0: _Stat(Node(id=0, parent=None))}
        finished: list[Node] = []
        max_iter = max(1, self.n * self.max_steps // self.width)
        for it in range(max_iter):
            path = [tree[0]]
            while path[-1].expanded and not self._widen(path[-1]):
                parent = path[-1]
                open_kids = [tree[k] for k in parent.children if not tree[k].node.done]
                if not open_kids:
                    break
                path.append(max(open_kids, key=lambda s: (self._uct(parent, s), -s.node.id)))
            leaf = path[-1]
            if leaf.expanded and not self._widen(leaf):  # every child has finished: branch exhausted
                if leaf is tree[0]:
                    break
                tree[leaf.node.parent].children.remove(leaf.node.id)  # type: ignore[index]
                continue
            kids = await self.expand(problem, ctx, [leaf.node], self.width, counter, it)
            leaf.expanded = True
            for kid in kids:
                tree[kid.id] = _Stat(kid, visits=1, value=kid.last)
                leaf.children.append(kid.id)
            finished += [k for k in kids if k.done]
            value = max((k.last for k in kids), default=0.0)
            for s in path:
                s.visits += 1
                s.value += value
            ctx.event("backup", iteration=it, path=[s.node.id for s in path], value=round(value, 4))
            if len(finished) >= self.n or not kids:
                break
        live = [s.node for s in tree.values() if not s.expanded and not s.node.done and s.node.steps]
        return self.result(problem, ctx, finished, live)


SPECS = (search_spec(MCTS, "Monte Carlo tree search over steps with the process verifier as value",
                     "Hao et al. 2023 (RAP); Zhang et al. 2024", n_means="full-solution equivalents"),)
