"""Sequential revisions (Snell et al. 2024): the model revises its own earlier attempts.

`chains` independent chains (the parallel axis) each make attempts one after another (the sequential
axis): attempt k sees the question and the chain's last `window` attempts and is asked to find and fix
mistakes. N = attempts in all, so `chains=1` is pure revision, `chains=N` is plain parallel sampling, and
the ratio between is the parallel × sequential mix, under one budget. Every round is one batched
backend call over all chains (the first one a single request with n = chains: identical prompts); the
later prompts share the question as their prefix, which llama.cpp keeps once in its KV cache.

`mode`:
- `revise`: the attempts above, then a turn asking for a corrected solution;
- `critique`: critique-then-revise without a second model: the model first writes a short critique of
  its last attempt (`critique_tokens`), then the revision sees it;
- `reflect`: for thinking models, budget forcing's move after an answer: the chain is one assistant
  message the model continues after a "Wait, let me check" cue (needs a backend that continues an
  assistant prefix).

`select` picks the answer: `vote` (majority over every attempt's answer), `last` (majority over each
chain's last attempt; with one chain, its last attempt), `best` (the attempt the verifier scores
highest) or `weighted` (verifier-weighted vote over every attempt).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from ponder.backends.base import Generator
from ponder.errors import BudgetExhaustedError, CapabilityError, ConfigError
from ponder.params import SamplingParams
from ponder.prompts import (
    CRITIQUE_INSTRUCTION,
    REFLECT_CUE,
    REVISE_AFTER_CRITIQUE,
    REVISE_INSTRUCTION,
    build_request,
)
from ponder.strategies.base import (
    RunContext,
    check_common,
    check_n,
    derive_seed,
    finish,
    generate,
    needs_sampling,
    score,
    to_candidate,
)
from ponder.strategies.spec import Cost, Options, StrategySpec, opt
from ponder.strategies.vote import decide
from ponder.types import Candidate, GenRequest, Message, Problem, Result
from ponder.verifiers.base import Verifier


@dataclass(frozen=True)
class _Attempt:
    cand: Candidate
    critique: str | None = None
    """The critique the revision *after* this attempt saw (mode=critique)."""


class ReviseOptions(Options):
    chains: int = opt(1, ge=1, help="independent chains (the parallel axis); n counts attempts over all")
    window: int = opt(4, ge=1, help="earlier attempts each revision sees")
    select: Literal["vote", "last", "best", "weighted"] = opt("vote", help="how the answer is picked")
    mode: Literal["revise", "critique", "reflect"] = opt("revise", help="revise; critique then revise; or reflect "
                                                                        "(a thinking model continues its answer)")
    critique_tokens: int = opt(128, ge=1, count=True, help="critique mode: tokens per critique")


def revise_cost(n: int, o: ReviseOptions, max_tokens: int) -> Cost:
    """n attempts, and in critique mode a critique before each revision."""
    critiques = n if o.mode == "critique" else 0
    return Cost(samples=n + critiques, tokens=n * max_tokens + critiques * o.critique_tokens)


class Revise:
    name = "revise"

    def __init__(self, n: int = 4, **options: Any) -> None:
        o = ReviseOptions.parse(options, who=f"strategy {self.name!r}")
        self.n = check_n(n)
        if o.chains > self.n:
            raise ConfigError("chains", o.chains, f"must be <= n={self.n} (n counts attempts over all chains)")
        self.chains, self.window, self.select, self.mode = o.chains, o.window, o.select, o.mode
        self.critique_tokens = o.critique_tokens

    @property
    def rounds(self) -> int:
        """Attempts per chain (the last round advances only the chains needed to make n in all)."""
        return math.ceil(self.n / self.chains)

    def check(self, generator: Generator, verifier: Verifier | None, params: SamplingParams) -> None:
        check_common(self.name, generator, verifier, needs_verifier=self.select in ("best", "weighted"))
        if self.chains > 1:
            needs_sampling(self.name, params, f"the first attempts of its {self.chains} chains would be identical")
        if self.mode == "reflect" and not generator.capabilities.continuation:
            raise CapabilityError("generator", generator.name, "mode=reflect continues the model's own answer, "
                                  "which this backend cannot (vLLM/SGLang: continue_final_message=True)")

    # -- prompts ---------------------------------------------------------------------------------------
    def _request(self, problem: Problem, ctx: RunContext, history: list[_Attempt], *, critique: bool, n: int,
                 params: SamplingParams, seed: int) -> GenRequest:
        """The request for a chain's next attempt (or, with `critique`, for a critique of its last one)."""
        chat = ctx.generator.capabilities.chat
        kw: dict[str, Any] = dict(n=n, params=params, seed=seed, deadline=ctx.meter.deadline)
        shown = history[-self.window:]
        if self.mode == "reflect":
            prefix = "".join(a.cand.text + REFLECT_CUE for a in shown)
            return build_request(ctx.prompter, problem, chat=chat, prefix=prefix, **kw)
        base = ctx.prompter.request_fields(problem, chat=chat)
        turns: list[tuple[str, str]] = []  # (role, text) after the question
        for j, a in enumerate(shown):
            turns.append(("assistant", a.cand.text))
            last = j == len(shown) - 1
            if self.mode == "critique" and (a.critique is not None or (last and critique)):
                turns.append(("user", CRITIQUE_INSTRUCTION))
                if a.critique is None:
                    break  # asking for this critique now
                turns += [("assistant", a.critique), ("user", REVISE_AFTER_CRITIQUE)]
            else:
                turns.append(("user", REVISE_INSTRUCTION))
        if "messages" in base:
            msgs = tuple(base["messages"]) + tuple(Message(role, text) for role, text in turns)  # type: ignore[arg-type]
            return GenRequest(messages=msgs, **kw)
        prompt = base["prompt"]
        for role, text in turns:  # a base model reads a transcript
            cue = "Check" if text == CRITIQUE_INSTRUCTION else "Answer"
            prompt += text if role == "assistant" else f"\n\n{text}\n{cue}:"
        return GenRequest(prompt=prompt, **kw)

    # -- one round -------------------------------------------------------------------------------------
    async def _call(self, problem: Problem, ctx: RunContext, chains: list[list[_Attempt]], rnd: int,
                    max_tokens: int, *, critique: bool) -> list[Candidate]:
        """One batched call advancing `chains` (all chains on round 0, when they are empty)."""
        k = len(chains)
        grant = ctx.meter.grant(k, max_tokens, count_samples=not critique)
        if grant.reason:
            ctx.event("budget", asked=k, granted=grant.n, max_tokens=grant.max_tokens, bound=grant.reason)
        params = ctx.params.merge(max_tokens=grant.max_tokens)
        label = f"{'critique' if critique else 'revise'}{rnd}"
        if rnd == 0:
            reqs = [self._request(problem, ctx, [], critique=False, n=grant.n, params=params,
                                  seed=derive_seed(ctx.seed, label))]
        else:
            reqs = [self._request(problem, ctx, h, critique=critique, n=1, params=params,
                                  seed=derive_seed(ctx.seed, f"{label}:{c}")) for c, h in enumerate(chains[:grant.n])]
        resps = await generate(ctx, reqs, grant, prompt_events=rnd == 0)
        return [to_candidate(o) for r in resps for o in r.outputs]

    async def run(self, problem: Problem, ctx: RunContext) -> Result:
        return await self.run_from(problem, ctx, ())

    async def run_from(self, problem: Problem, ctx: RunContext, first: Sequence[Candidate]) -> Result:
        """Continue from attempts already drawn (a policy's probe): each is the first attempt of a chain
        and counts toward n; only the first `chains` chains are revised further."""
        chains: list[list[_Attempt]] = [[_Attempt(c)] for c in first]
        chains += [[] for _ in range(max(0, self.chains - len(chains)))]
        made = len(first)
        for rnd in range(self.rounds):
            idx = [j for j, h in enumerate(chains[:self.chains]) if len(h) == rnd][:max(0, self.n - made)]
            active = [chains[j] for j in idx]
            if not active:
                continue
            try:
                critiques: list[Candidate] = []
                if self.mode == "critique" and rnd > 0:
                    critiques = await self._call(problem, ctx, active, rnd, self.critique_tokens, critique=True)
                    active = active[:len(critiques)]
                    for h, c in zip(active, critiques):
                        h[-1] = replace(h[-1], critique=c.text)
                new = await self._call(problem, ctx, active, rnd, ctx.params.max_tokens, critique=False)
            except BudgetExhaustedError as e:
                if made == 0:
                    raise  # nothing generated at all: the run fails
                ctx.event("budget_exhausted", round=rnd, detail=str(e))
                break
            for i, (h, c) in enumerate(zip(active, new)):
                extra = (critiques[i].tokens or 0) if critiques else 0
                h.append(_Attempt(replace(c, tokens=(c.tokens or 0) + extra) if extra else c))
            made += len(new)
            ctx.event("revise", round=rnd, mode=self.mode, chains=idx[:len(new)],
                      answers=[c.answer for c in new], tokens=[c.tokens for c in new],
                      critique_tokens=[c.tokens for c in critiques] if critiques else None)
            if len(new) < len(active):
                break  # the budget granted fewer: the chains stop here
        cands = [a.cand for h in chains for a in h]
        where = [(c, k) for c, h in enumerate(chains) for k in range(len(h))]
        ctx.event("chains", attempts=[[a.cand.answer for a in h] for h in chains if h])
        if self.select in ("best", "weighted"):
            cands = await score(problem, ctx, cands)
        if self.select == "best":
            best = max(range(len(cands)), key=lambda i: (cands[i].score or 0.0, -i))
            ctx.event("select", chosen=best, score=cands[best].score, chain=where[best][0])
            return finish(ctx, self.name, problem, cands, cands[best].answer, best)
        if self.select == "last":
            lasts = [i for i, (c, k) in enumerate(where) if k == len(chains[c]) - 1]
            answer, pick = await decide([cands[i] for i in lasts], ctx, weighted=False)
            return finish(ctx, self.name, problem, cands, answer, None if pick is None else lasts[pick])
        answer, chosen = await decide(cands, ctx, weighted=self.select == "weighted")
        return finish(ctx, self.name, problem, cands, answer, chosen)


SPECS = (StrategySpec(name="revise", build=Revise, options=ReviseOptions,
                      summary="sequential revisions: chains of attempts, each revising the last ones",
                      paper="Snell et al. 2024", n_means="attempts over all chains", default_n=4, cost=revise_cost),)
