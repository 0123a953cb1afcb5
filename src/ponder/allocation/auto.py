"""`auto`: the compute-efficient default. Spend samples until more would not change the answer, and
spend no tokens inside a sample after its answer is written.

It combines the pieces that each save compute on their own:
- **small rounds** (`batch`, default 2): a question whose first two samples agree, and that the
  rule trusts, costs two samples, not sixteen. Many questions in flight at once (`ponder eval
  --concurrency`, concurrent server requests) keep the backend's batch full while each question
  samples in small rounds;
- **a stopping rule**: a rule learned from eval logs (`rule=FILE`, written by `ponder fit-stop`;
  see `ponder.allocation.stopping`) that also uses the samples' confidence, or with no file
  Adaptive-Consistency's Beta rule at `threshold`;
- **answer stop** (`answer_stop`, on by default): each sample ends once its `\\boxed{}` answer is
  closed, where the backend can do that (llama.cpp, the scripted fake); elsewhere samples run to
  their natural end;
- **confidence** (`confidence`, on when the backend reports logprobs): every sample is scored by
  DeepConf's lowest group confidence, which the learned rule reads and the trace shows.
The final answer is the majority of the samples drawn (unweighted, as self-consistency). The trace
has one `round` event per round: samples so far, the rule's probability, and whether it stopped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os

from ponder.allocation.stopping import StopRule
from ponder.backends.base import Generator
from ponder.errors import CapabilityError, ConfigError
from ponder.params import SamplingParams
from ponder.strategies.adaptive import AdaptiveVote, _round_seed
from ponder.strategies.base import RunContext, check_common, check_n, finish, needs_sampling, sample
from ponder.strategies.vote import decide
from ponder.types import Candidate, Problem, Result
from ponder.verifiers.base import Verifier
from ponder.verifiers.confidence import lowest_group_confidence
from ponder.voting import answer_keys

TOP_K, WINDOW = 5, 32  # DeepConf's confidence: top-5 logprobs, groups of 32 tokens


class Auto:
    name = "auto"

    def __init__(self, n: int = 16, *, batch: int | None = None, rule: str | os.PathLike | StopRule | None = None,
                 threshold: float = 0.95, answer_stop: bool = True, confidence: bool | None = None) -> None:
        self.n = check_n(n)
        self.rule = StopRule.load(rule) if isinstance(rule, str | os.PathLike) else rule
        if batch is None:
            batch = self.rule.round_size if self.rule else 2
        self.batch = check_n(batch)
        self.first = max(self.batch, self.rule.min_samples) if self.rule else self.batch
        self.beta = AdaptiveVote(self.n, batch=self.batch, threshold=threshold)  # validates threshold
        if not isinstance(answer_stop, bool):
            raise ConfigError("answer_stop", answer_stop, "must be true or false")
        if confidence is not None and not isinstance(confidence, bool):
            raise ConfigError("confidence", confidence, "must be true or false")
        if confidence is False and self.rule is not None and self.rule.uses_scores:
            raise ConfigError("confidence", confidence, "the stop rule was fitted on confidence scores; "
                                                        "it needs confidence=true")
        self.answer_stop, self.confidence = answer_stop, confidence

    def _wants_confidence(self, generator: Generator) -> bool:
        caps = generator.capabilities
        able = caps.logprobs and caps.top_logprobs >= TOP_K
        return able if self.confidence is None else self.confidence

    def check(self, generator: Generator, verifier: Verifier | None, params: SamplingParams) -> None:
        check_common(self.name, generator, verifier, needs_verifier=False)
        needs_sampling(self.name, params)
        caps = generator.capabilities
        needs = self.confidence or (self.rule is not None and self.rule.uses_scores)
        if needs and not (caps.logprobs and caps.top_logprobs >= TOP_K):
            raise CapabilityError("generator", generator.name,
                                  f"auto with {'this stop rule' if self.rule else 'confidence=true'} needs "
                                  f"top-{TOP_K} logprobs, which this backend does not report")

    def _settled(self, cands: list[Candidate], last: list[Candidate]) -> tuple[bool, float]:
        if self.rule is not None:
            return self.rule.decide(cands, answer_keys(cands))
        return self.beta.settled(cands, last)

    async def run(self, problem: Problem, ctx: RunContext) -> Result:
        confident = self._wants_confidence(ctx.generator)
        params = ctx.params.merge(logprobs=max(TOP_K, ctx.params.logprobs or 0)) if confident else ctx.params
        stop_at_answer = self.answer_stop and ctx.generator.capabilities.answer_stop
        ctx.event("auto", rule="learned" if self.rule else "beta", batch=self.batch, first=self.first, n=self.n,
                  answer_stop=stop_at_answer, confidence=confident)
        cands: list[Candidate] = []
        k = 0
        while len(cands) < self.n:
            want = min(self.first if k == 0 else self.batch, self.n - len(cands))
            new = await sample(problem, ctx, want, params=params, seed=_round_seed(ctx.seed, k),
                               answer_stop=stop_at_answer)
            if not new:  # the budget granted nothing more
                break
            if confident:
                new = [dataclasses.replace(c, score=lowest_group_confidence(c.logprobs or (), WINDOW)) for c in new]
            cands += new
            k += 1
            done, p = await asyncio.to_thread(self._settled, cands, new)  # grouping off the loop
            ctx.event("round", round=k, samples=len(cands), p_stop=round(p, 4), stop=done,
                      tokens=sum(c.tokens or 0 for c in cands))
            if done:
                break
        answer, chosen = await decide(cands, ctx, weighted=False)
        return finish(ctx, self.name, problem, cands, answer, chosen)
