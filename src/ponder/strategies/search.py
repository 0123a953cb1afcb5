"""Shared machinery of step-level search (beam, DVTS, particle filtering, MCTS).

A partial solution is a `Node`: its steps, each step's process-reward score, whether it is finished.
`Search.expand` extends many nodes by one step each in ONE generator call (every request continues
its node's text as an assistant prefix and stops at the step separator), then scores all the new
steps in ONE verifier call. On llama.cpp the requests of a call share the problem prompt and their
common steps in the KV cache (`llamacpp-batching.md`), so a child never re-evaluates its parent.

N means full-solution equivalents in every search: each depth of the tree generates about N steps,
as N independent samples would. Every expansion is recorded in the trace (`expand`, `prune`,
`resample`, `select` events), so `ponder ask --show-trace` can draw the tree.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ponder.answers import extract_answer
from ponder.backends.base import Generator
from ponder.errors import BudgetExhaustedError, CapabilityError, ConfigError
from ponder.params import SamplingParams
from ponder.prompts import build_request
from ponder.steps import DEFAULT_SEPARATOR, aggregate, join_steps
from ponder.strategies.base import RunContext, check_n, finish, generate, needs_sampling
from ponder.strategies.spec import Cost, Options, StrategySpec, opt
from ponder.types import Candidate, Problem, Result, Step
from ponder.verifiers.base import Verifier


@dataclass(frozen=True, slots=True)
class Node:
    id: int
    parent: int | None
    steps: tuple[str, ...] = ()
    scores: tuple[float, ...] = ()
    done: bool = False
    tokens: int = 0
    finish_reason: str = "stop"

    @property
    def last(self) -> float:
        return self.scores[-1] if self.scores else 0.0


def _seed(base: int, *parts: int) -> int:
    raw = hashlib.sha256(":".join(map(str, (base, *parts))).encode()).digest()
    return int.from_bytes(raw[:8], "big") >> 1


class SearchOptions(Options):
    width: int = opt(4, ge=1, count=True, help="M: children per expanded node (must divide N)")
    max_steps: int = opt(12, ge=1, count=True, help="depth limit: steps per solution")
    step_tokens: int = opt(192, ge=1, count=True, help="max tokens per step")
    aggregate: Literal["last", "min", "prod", "mean"] = opt("last", help="how step scores make a solution's score")
    separator: str = opt(DEFAULT_SEPARATOR, help="the text that ends a step (step_mode=separator)")
    step_mode: Literal["separator", "tokens"] = opt("separator", help="a step ends at the separator, or after "
                                                                      "step_tokens tokens")


def search_cost(n: int, o: SearchOptions, max_tokens: int) -> Cost:
    """Each depth extends at most N nodes by one step; a solution has at most max_steps steps."""
    return Cost(samples=n * o.max_steps, tokens=n * o.max_steps * o.step_tokens)


def search_spec(build: type[Search], summary: str, paper: str,
                n_means: str = "full-solution equivalents (about N steps per depth)") -> StrategySpec:
    """The declaration every step search shares: a process verifier, partial answers continued."""
    return StrategySpec(name=build.name, build=build, options=build.Options, summary=summary, paper=paper,
                        n_means=n_means, verifier="llm-prm", cost=search_cost,
                        needs="a process verifier (default llm-prm) and a backend that continues partial answers")


class Search:
    """Base of the search strategies. n: full-solution equivalents (N); the options are `SearchOptions`."""

    name = "search"
    Options: type[SearchOptions] = SearchOptions

    def __init__(self, n: int = 8, **options: Any) -> None:
        self.n = check_n(n)
        o = self.Options.parse(options, who=f"strategy {self.name!r}")
        self.options = o
        self.width = o.width
        if self.width > self.n:
            raise ConfigError("width", o.width, f"must be <= n={n}")
        if self.n % self.width:
            raise ConfigError("width", o.width, f"must divide n={n} (N/M subtrees or kept beams)")
        if o.step_mode == "separator" and not o.separator:
            raise ConfigError("separator", o.separator, "must be non-empty in separator mode")
        self.max_steps, self.step_tokens, self.step_mode = o.max_steps, o.step_tokens, o.step_mode
        self.aggregate = o.aggregate
        # token mode: a step is the next step_tokens tokens, and steps are joined as they were written
        self.separator = o.separator if o.step_mode == "separator" else ""

    # -- building ---------------------------------------------------------------------------------
    def check(self, generator: Generator, verifier: Verifier | None, params: SamplingParams) -> None:
        if verifier is None or not hasattr(verifier, "score_steps"):
            raise ConfigError("verifier", getattr(verifier, "name", None),
                              f"strategy {self.name!r} needs a process verifier that scores steps "
                              "(llm-prm, or a PRM loaded with prm:PATH)")
        if not generator.capabilities.continuation:
            raise CapabilityError("generator", generator.name,
                                  f"strategy {self.name!r} continues partial solutions, which this backend "
                                  "cannot (for vLLM/SGLang servers pass continue_final_message=True)")
        needs_sampling(self.name, params, "greedy children are identical")

    # -- one depth of the tree --------------------------------------------------------------------
    async def expand(self, problem: Problem, ctx: RunContext, parents: Sequence[Node], k: int | Sequence[int],
                     counter: list[int], iteration: int) -> list[Node]:
        """k children for each parent (or k[i] for parent i; fewer if the budget binds), scored, in
        two batched calls: one to the generator, one to the verifier. Once the budget is spent it
        returns no children, and the search ends with what it has."""
        if not parents:
            return []
        per = [k] * len(parents) if isinstance(k, int) else list(k)
        asked = sum(per)
        extra = int(getattr(ctx.verifier, "tokens_per_step", 0) or 0)
        try:
            grant = ctx.meter.grant(asked, self.step_tokens, extra_tokens_per_sample=extra, count_samples=False)
        except BudgetExhaustedError as e:
            if counter[0] == 0:
                raise  # nothing generated at all: the run fails
            ctx.event("budget_exhausted", iteration=iteration, detail=str(e))
            return []  # the search ends with what it has
        if grant.reason:
            ctx.event("budget", asked=asked, granted=grant.n, max_tokens=grant.max_tokens, bound=grant.reason)
        short = asked - grant.n
        for i in range(len(per) - 1, -1, -1):  # take the shortfall from the last parents
            cut = min(short, per[i])
            per[i] -= cut
            short -= cut
        stop = (self.separator,) if self.separator else ()
        params = ctx.params.merge(stop=stop, max_tokens=grant.max_tokens)
        chat = ctx.generator.capabilities.chat
        reqs, owners = [], []
        for p, kk in zip(parents, per):
            if kk < 1:
                continue
            prefix = join_steps(p.steps, self.separator) + self.separator if p.steps else ""
            reqs.append(build_request(ctx.prompter, problem, chat=chat, n=kk, params=params, prefix=prefix,
                                      seed=_seed(ctx.seed, p.id, iteration), deadline=ctx.meter.deadline))
            owners.append(p)
        resps = await generate(ctx, reqs, grant, extra_tokens_per_sample=extra, prompt_events=False)
        children: list[Node] = []
        for p, r in zip(owners, resps):
            for o in r.outputs:
                if self.separator:
                    text = o.text.strip()
                    ended = o.stop_string is None or "\\boxed" in text or not text
                else:  # token mode: keep the text as written; only end-of-generation finishes
                    text = o.text
                    ended = o.finish_reason != "length" or "\\boxed" in text or not text
                counter[0] += 1
                children.append(Node(id=counter[0], parent=p.id, steps=p.steps + ((text,) if text else ()),
                                     scores=p.scores, done=ended or len(p.steps) + 1 >= self.max_steps,
                                     tokens=p.tokens + (o.completion_tokens or 0), finish_reason=o.finish_reason))
        scorable = [c for c in children if c.steps and len(c.steps) > len(c.scores)]
        if scorable:
            got = await ctx.verifier.score_steps(problem, [c.steps for c in scorable], last_only=True)  # type: ignore[union-attr]
            ctx.usage = ctx.usage + got.usage
            new = {c.id: c.scores + (v[-1],) for c, v in zip(scorable, got.values)}
            children = [dataclasses.replace(c, scores=new.get(c.id, c.scores)) for c in children]
        ctx.event("expand", iteration=iteration, nodes=[self._node_event(c) for c in children])
        return children

    @staticmethod
    def _node_event(c: Node) -> dict[str, Any]:
        step = c.steps[-1] if c.steps else ""
        return {"id": c.id, "parent": c.parent, "depth": len(c.steps), "score": round(c.last, 4),
                "done": c.done, "step": step[:80]}

    # -- the result -------------------------------------------------------------------------------
    def candidate(self, node: Node) -> Candidate:
        text = join_steps(node.steps, self.separator)
        return Candidate(text=text, answer=extract_answer(text), finish_reason=node.finish_reason,  # type: ignore[arg-type]
                         score=aggregate(node.scores, self.aggregate), tokens=node.tokens,
                         steps=tuple(Step(s, v) for s, v in zip(node.steps, node.scores)))

    def result(self, problem: Problem, ctx: RunContext, finished: Sequence[Node],
               unfinished: Sequence[Node]) -> Result:
        """Best finished solution by aggregated step score (unfinished ones only if none finished)."""
        pool = list(finished) or list(unfinished)
        cands = [self.candidate(nd) for nd in pool]
        if not cands:
            return finish(ctx, self.name, problem, [], None, None)
        best = max(range(len(cands)), key=lambda i: (cands[i].score or 0.0, -i))
        ctx.event("select", chosen=pool[best].id, score=cands[best].score, finished=len(finished),
                  aggregate=self.aggregate)
        return finish(ctx, self.name, problem, cands, cands[best].answer, best)

    async def run(self, problem: Problem, ctx: RunContext) -> Result:  # pragma: no cover - abstract
        raise NotImplementedError
