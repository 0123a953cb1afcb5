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
- **confidence** (`confidence`; by default on exactly when the rule or the policy was fitted on
  scores): every sample is scored by DeepConf's lowest group confidence, which they read and the
  trace shows. Off otherwise, because top-5 logprobs are not free: llama-cpp-python's server
  decodes several times slower with them (bench/experiments/peers/);
- **a difficulty policy** (`policy=FILE`, written by `ponder fit-policy`, optional): the first round
  (at least the policy's probe) predicts the question's difficulty bin, and the bin's N caps the
  question: the rule then stops it early within that budget, never beyond it. A hopeless question
  stops at its probe even if its samples never agree;
- **lookahead** (`lookahead`, default 0): rounds of 2 leave a batch mostly empty when one
  question is asked alone (`ponder ask`, a single server request) and make a hard question wait for
  one round after another. With `lookahead=L`, once a question's first round has not settled it,
  up to L further rounds run ahead of the rule's decision (one more per unsettled round, so an easy
  question spends nothing ahead); when the rule stops, the rounds still in flight are stopped at the
  backend's next step (llama.cpp; other backends finish them) and do not vote: the rule reads the
  same rounds, with the same seeds, in the same order as with `lookahead=0` (the same answer
  wherever a backend's samples do not depend on what else shares its batch; llama.cpp's do, in the
  last bits), and what they spent counts in the usage and the trace's `lookahead` event. It trades
  tokens for latency; with many questions in flight (`--concurrency`) the batch is full anyway and
  it only costs tokens;
- **a token pool** (`pool`, a `TokenPool` shared by every question of a run: `ponder eval
  --total-tokens`): every round after the first is granted only what the pool can afford while
  keeping the first round of the questions still to come in reserve, so a run never spends past its
  budget and the questions that stop early leave their tokens to the others.
The final answer is the majority of the samples drawn (unweighted, as self-consistency). The trace
has one `round` event per round: samples so far, the rule's probability, and whether it stopped.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import os
import threading
from pathlib import Path
from typing import Any

from ponder.allocation.policy import Policy, probe_features
from ponder.allocation.pools import TokenPool
from ponder.allocation.stopping import StopRule
from ponder.backends.base import Generator
from ponder.errors import CapabilityError, ConfigError
from ponder.params import SamplingParams
from ponder.strategies.adaptive import AdaptiveVote, _round_seed
from ponder.strategies.base import RunContext, check_common, check_n, finish, needs_sampling, sample
from ponder.strategies.spec import Options, StrategySpec, opt
from ponder.strategies.vote import decide
from ponder.types import Candidate, Problem, Result
from ponder.verifiers.base import Verifier
from ponder.verifiers.confidence import lowest_group_confidence
from ponder.voting import answer_keys

TOP_K, WINDOW = 5, 32  # DeepConf's confidence: top-5 logprobs, groups of 32 tokens


class AutoOptions(Options):
    batch: int | None = opt(None, ge=1, count=True, help="samples per round (default: the rule's, else 2)")
    rule: str | Path | StopRule | None = opt(None, file="stop-rule", help="a stopping rule (ponder fit-stop); "
                                                                           "default: the Beta rule at threshold")
    threshold: float = opt(0.95, gt=0.5, lt=1, help="the Beta rule's stopping probability")
    answer_stop: bool = opt(True, help="end each sample once its boxed answer is written")
    confidence: bool | None = opt(None, help="score samples by their confidence (default: when the rule or policy "
                                             "was fitted on it)")
    policy: str | Path | Policy | None = opt(None, file="policy", help="a difficulty policy (ponder fit-policy) "
                                                                        "that caps each question's samples")
    lookahead: int = opt(0, ge=0, count=True, help="rounds run ahead of the rule's decision (latency for tokens)")


class Auto:
    name = "auto"

    def __init__(self, n: int = 16, *, pool: TokenPool | None = None, **options: Any) -> None:
        o = AutoOptions.parse(options, who=f"strategy {self.name!r}")
        self.n = check_n(n)
        rule, policy, batch, lookahead = o.rule, o.policy, o.batch, o.lookahead
        self.rule = StopRule.load(rule) if isinstance(rule, str | os.PathLike) else rule
        self.policy = Policy.load(policy) if isinstance(policy, str | os.PathLike) else policy
        if pool is not None and not isinstance(pool, TokenPool):
            raise ConfigError("pool", pool, "must be a TokenPool (ponder eval --total-tokens)")
        self.pool = pool
        if lookahead and pool is not None:
            raise ConfigError("lookahead", lookahead, "cannot run under a run budget (ponder eval --total-tokens), "
                                                      "which grants one round at a time; use lookahead=0")
        self.lookahead = lookahead
        if batch is None:
            batch = self.rule.round_size if self.rule else 2
        self.batch = batch
        self.first = max(self.batch, self.rule.min_samples) if self.rule else self.batch
        if self.policy is not None:
            self.first = max(self.first, self.policy.probe)
        self.beta = AdaptiveVote(self.n, batch=self.batch, threshold=o.threshold)
        answer_stop, confidence = o.answer_stop, o.confidence
        self.reads_scores = [what for what, it in (("this stop rule", self.rule), ("this policy", self.policy))
                             if it is not None and it.uses_scores]
        """What was fitted on confidence scores and so needs them at run time."""
        if confidence is False and self.reads_scores:
            raise ConfigError("confidence", confidence, f"{self.reads_scores[0]} was fitted on confidence scores; "
                                                        "it needs confidence=true")
        self.answer_stop, self.confidence = answer_stop, confidence

    def _wants_confidence(self) -> bool:
        return bool(self.reads_scores) if self.confidence is None else self.confidence

    def check(self, generator: Generator, verifier: Verifier | None, params: SamplingParams) -> None:
        check_common(self.name, generator, verifier, needs_verifier=False)
        needs_sampling(self.name, params)
        caps = generator.capabilities
        if self._wants_confidence() and not (caps.logprobs and caps.top_logprobs >= TOP_K):
            raise CapabilityError("generator", generator.name,
                                  f"auto with {self.reads_scores[0] if self.reads_scores else 'confidence=true'} needs "
                                  f"top-{TOP_K} logprobs, which this backend does not report")

    def _settled(self, cands: list[Candidate], last: list[Candidate]) -> tuple[bool, float]:
        if self.rule is not None:
            return self.rule.decide(cands, answer_keys(cands))
        return self.beta.settled(cands, last)

    def _cap(self, cands: list[Candidate], ctx: RunContext) -> int:
        """The question's sample budget: the policy's N for the bin its first round predicts."""
        if self.policy is None:
            return self.n
        feats = probe_features(cands)
        b = self.policy.predict(feats)
        cap = min(self.n, max(self.policy.n_for(b), len(cands)))
        ctx.event("allocate", features=[round(f, 4) for f in feats], bin=b, probe=len(cands), cap=cap)
        return cap

    async def _round(self, problem: Problem, ctx: RunContext, want: int, params: SamplingParams, k: int,
                     answer_stop: bool, stop: threading.Event, cands: list[Candidate]) -> list[Candidate]:
        """Round k's samples (seed from k); later rounds only as far as the run's pool affords, priced
        from the samples `cands` drawn before it."""
        held = 0
        if k and self.pool is not None:
            per = sum(c.tokens or 0 for c in cands) / len(cands)  # the first rounds still to come
            longest = max(c.tokens or 0 for c in cands)  # what the next samples may cost, each
            want, held = self.pool.grant(longest, want, probe_cost=per * self.first)
            if not want:
                ctx.event("budget", bound="pool", samples=len(cands), pool_left=self.pool.left)
                return []
        new: list[Candidate] = []
        try:
            new = await sample(problem, ctx, want, params=params, seed=_round_seed(ctx.seed, k),
                               answer_stop=answer_stop, cancel=stop)
        finally:
            if self.pool is not None:
                spent = sum(c.tokens or 0 for c in new)
                if k:
                    self.pool.settle(held, spent)
                else:
                    self.pool.probed(spent)
        return new

    @staticmethod
    async def _stop(ahead: collections.deque[tuple[asyncio.Future[list[Candidate]], threading.Event]], *,
                    cancel: bool) -> list[Candidate]:
        """Stop the rounds still in flight: the backend ends their samples at its next step and still
        reports what they spent (in the usage). Settled, they finish and their samples come back (they
        do not vote: the answer is the one sequential rounds give); cancelled, the tasks go too. A
        failure in a dropped round costs nothing."""
        for task, stop in ahead:
            stop.set()
            if cancel:
                task.cancel()
        got = await asyncio.gather(*(t for t, _ in ahead), return_exceptions=True)
        return [c for g in got if isinstance(g, list) for c in g]

    async def run(self, problem: Problem, ctx: RunContext) -> Result:
        confident = self._wants_confidence()
        params = ctx.params.merge(logprobs=max(TOP_K, ctx.params.logprobs or 0)) if confident else ctx.params
        stop_at_answer = self.answer_stop and ctx.generator.capabilities.answer_stop
        ctx.event("auto", rule="learned" if self.rule else "beta", batch=self.batch, first=self.first, n=self.n,
                  answer_stop=stop_at_answer, confidence=confident, policy=self.policy is not None,
                  pool=self.pool is not None, lookahead=self.lookahead)
        cands: list[Candidate] = []
        cap, launched, rounds = self.n, 0, 0
        ahead: collections.deque[tuple[asyncio.Future[list[Candidate]], threading.Event]] = collections.deque()

        def launch() -> bool:
            """Start the next round (with its own seed) as far as the cap allows; False if none is left."""
            nonlocal launched, rounds
            want = min(self.first if rounds == 0 else self.batch, cap - launched)
            if want <= 0:
                return False
            stop = threading.Event()
            coro = self._round(problem, ctx, want, params, rounds, stop_at_answer, stop, list(cands))
            ahead.append((asyncio.ensure_future(coro), stop))
            launched, rounds = launched + want, rounds + 1
            return True

        try:
            launch()
            while ahead:
                new = await ahead.popleft()[0]
                if not new:  # the budget granted nothing more
                    break
                if confident:
                    new = [dataclasses.replace(c, score=lowest_group_confidence(c.logprobs or (), WINDOW))
                           for c in new]
                cands += new
                decided = rounds - len(ahead)  # rounds read so far, this one included
                if decided == 1:
                    cap = self._cap(cands, ctx)
                done, p = await asyncio.to_thread(self._settled, cands, new)  # grouping off the loop
                ctx.event("round", round=decided, samples=len(cands), p_stop=round(p, 4), stop=done,
                          tokens=sum(c.tokens or 0 for c in cands))
                if done or len(cands) >= cap:
                    break
                # in flight: the next round, and up to `lookahead` more once the question has shown it
                # is not easy (one more per unsettled round), so an easy question spends nothing ahead
                while len(ahead) < 1 + min(self.lookahead, decided) and launch():
                    pass
        except BaseException:  # cancelled (a client went away) or failed: nothing in flight outlives it
            await self._stop(ahead, cancel=True)
            raise
        if ahead:
            dropped = await self._stop(ahead, cancel=False)
            ctx.event("lookahead", dropped_rounds=len(ahead), dropped_samples=len(dropped),
                      dropped_tokens=sum(c.tokens or 0 for c in dropped))
        answer, chosen = await decide(cands, ctx, weighted=False)
        return finish(ctx, self.name, problem, cands, answer, chosen)


SPECS = (StrategySpec(name="auto", build=Auto, options=AutoOptions,
                      summary="the compute-efficient default: small rounds until a (learned) rule says the answer "
                              "is settled, samples stopped at their answer",
                      paper="Aggarwal et al. 2023; ponder's fit-stop", n_means="the most samples a question may use",
                      default_n=16, pool="tokens"),)
