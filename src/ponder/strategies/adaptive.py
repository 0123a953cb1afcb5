"""Early stopping per question: spend samples until the vote is settled, or drop unsure traces.

- `AdaptiveVote` (`adaptive-vote`): sample in rounds of `batch` and stop as soon as the vote is
  settled, up to n samples. Rules: `beta` (Adaptive-Consistency, Aggarwal et al. 2023: stop when
  P(the leading answer's share > the runner-up's) under a Beta(v1+1, v2+1) posterior exceeds
  `threshold`), or `esc` (Early-Stopping Self-Consistency, Li et al. 2024: stop when one window of
  `batch` samples all agree). Easy questions stop after a round; hard ones use the full n. With
  `weighted=true` the Beta rule counts each sample's vote by its DeepConf confidence relative to
  the mean (confidence-weighted stopping: a few confident agreeing samples settle the vote sooner,
  unsure ones later); the final answer is still the plain majority.
- `DeepConf` (`deepconf`, Fu et al. 2025): confidence-filtered, confidence-weighted voting over
  traces scored by their lowest group confidence. Offline: draw n, keep the top `keep` share, vote
  weighted by confidence. Online: `warmup` traces set a threshold (the confidence at the (1−keep)
  percentile); the rest are generated with a `ConfidenceStop`, so a trace is cut the moment its
  running group confidence falls below it; cut traces do not vote, but their tokens count.
N = the most samples a question may use.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from typing import Any, Literal

from ponder.backends.base import Generator, require
from ponder.errors import CapabilityError, ConfigError
from ponder.params import SamplingParams
from ponder.strategies.base import RunContext, check_common, check_n, derive_seed, finish, needs_sampling, sample
from ponder.strategies.spec import Options, StrategySpec, opt
from ponder.strategies.vote import decide, tally
from ponder.types import Candidate, ConfidenceStop, Problem, Result
from ponder.verifiers.base import Verifier
from ponder.verifiers.confidence import lowest_group_confidence


def _round_seed(seed: int, k: int) -> int:
    return derive_seed(seed, f"round{k}")


def beta_leader_probability(v1: float, v2: float) -> float:
    """P(p1 > p2) for the two leading answers' shares under a Beta(v1 + 1, v2 + 1) posterior on
    p1 / (p1 + p2): for whole counts exactly P(Binomial(v1 + v2 + 1, 1/2) <= v1); for weighted
    (fractional) counts by Simpson's rule on the posterior density."""
    if float(v1).is_integer() and float(v2).is_integer():
        v1, v2 = int(v1), int(v2)
        n = v1 + v2 + 1
        return sum(math.comb(n, i) for i in range(v1 + 1)) / float(2 ** n)
    steps = 400  # even; the density is smooth on (0, 1)

    def log_density(q: float) -> float:
        return v1 * math.log(q) + v2 * math.log1p(-q)

    def integral(a: float, b: float, peak: float) -> float:
        h = (b - a) / steps
        total = 0.0
        for i in range(steps + 1):
            q = min(max(a + i * h, 1e-12), 1 - 1e-12)
            w = 1 if i in (0, steps) else (4 if i % 2 else 2)
            total += w * math.exp(log_density(q) - peak)
        return total * h / 3

    mode = v1 / (v1 + v2) if v1 + v2 > 0 else 0.5
    peak = log_density(min(max(mode, 1e-12), 1 - 1e-12))
    upper, lower = integral(0.5, 1.0, peak), integral(0.0, 0.5, peak)
    return upper / (upper + lower)


class AdaptiveVoteOptions(Options):
    batch: int = opt(4, ge=1, count=True, help="samples per round")
    rule: Literal["beta", "esc"] = opt("beta", help="beta: stop once P(leader ahead) under a Beta posterior reaches "
                                                    "threshold; esc: stop once a round agrees")
    threshold: float = opt(0.95, gt=0.5, lt=1, help="the Beta rule's stopping probability")
    weighted: bool = opt(False, help="count votes by their confidence in the Beta rule (needs logprobs)")


class AdaptiveVote:
    name = "adaptive-vote"

    def __init__(self, n: int = 16, **options: Any) -> None:
        o = AdaptiveVoteOptions.parse(options, who=f"strategy {self.name!r}")
        self.n, self.batch = check_n(n), o.batch
        if o.weighted and o.rule != "beta":
            raise ConfigError("weighted", o.weighted, "confidence weighting applies to the Beta rule")
        self.rule, self.threshold, self.weighted = o.rule, o.threshold, o.weighted

    def check(self, generator: Generator, verifier: Verifier | None, params: SamplingParams) -> None:
        check_common(self.name, generator, verifier, needs_verifier=False)
        needs_sampling(self.name, params)
        if self.weighted:
            require(generator, logprobs=5, who="adaptive-vote with weighted=true")

    def settled(self, cands: list[Candidate], last_round: list[Candidate]) -> tuple[bool, float]:
        if self.rule == "esc":
            answers = {c.answer for c in last_round}
            return len(last_round) == self.batch and len(answers) == 1 and None not in answers, 1.0
        if self.weighted and all(c.score is not None for c in cands):
            # each sample counts its confidence relative to the mean: the counts still sum to k, but
            # confident samples weigh more (DeepConf's weighting, applied to the stopping decision)
            mean = sum(c.score or 0.0 for c in cands) / len(cands)
            t = tally(cands, weighted=True)
            if not t:
                return False, 0.0
            w1 = t[0].weight / mean if mean > 0 else t[0].votes
            w2 = (t[1].weight / mean if mean > 0 else t[1].votes) if len(t) > 1 else 0.0
            p = beta_leader_probability(w1, w2)
            return p >= self.threshold, p
        t = tally(cands, weighted=False)
        if not t:
            return False, 0.0
        p = beta_leader_probability(t[0].votes, t[1].votes if len(t) > 1 else 0)
        return p >= self.threshold, p

    async def run(self, problem: Problem, ctx: RunContext) -> Result:
        cands: list[Candidate] = []
        k = 0
        params = ctx.params.merge(logprobs=max(5, ctx.params.logprobs or 0)) if self.weighted else ctx.params
        while len(cands) < self.n:
            new = await sample(problem, ctx, min(self.batch, self.n - len(cands)), params=params,
                               seed=_round_seed(ctx.seed, k))
            if self.weighted:
                new = [dataclasses.replace(c, score=lowest_group_confidence(c.logprobs or (), 32)) for c in new]
            cands += new
            k += 1
            done, p = await asyncio.to_thread(self.settled, cands, new)  # grouping off the loop
            ctx.event("round", round=k, samples=len(cands), rule=self.rule, p_leader=round(p, 4), stop=done)
            if done:
                break
        answer, chosen = await decide(cands, ctx, weighted=False)
        return finish(ctx, self.name, problem, cands, answer, chosen)


class DeepConfOptions(Options):
    mode: Literal["online", "offline"] = opt("online", help="online: warm-up traces set a threshold and later "
                                                            "traces stop when they fall below it; offline: filter "
                                                            "after all n")
    keep: float = opt(0.9, gt=0, le=1, help="share of traces kept (by confidence)")
    warmup: int = opt(4, ge=1, help="online: traces that set the threshold (within n)")
    window: int = opt(32, ge=1, help="tokens per confidence group")
    top_k: int = opt(5, ge=1, le=20, help="logprobs per token that make a token's confidence")


class DeepConf:
    name = "deepconf"

    def __init__(self, n: int = 16, **options: Any) -> None:
        o = DeepConfOptions.parse(options, who=f"strategy {self.name!r}")
        self.n = check_n(n)
        if o.mode == "online" and o.warmup > self.n:
            raise ConfigError("warmup", o.warmup, f"must be <= n={n}")
        self.mode, self.keep, self.warmup, self.window, self.top_k = o.mode, o.keep, o.warmup, o.window, o.top_k

    def check(self, generator: Generator, verifier: Verifier | None, params: SamplingParams) -> None:
        require(generator, logprobs=self.top_k, who=f"strategy {self.name!r}")
        if self.mode == "online" and not generator.capabilities.confidence_stop:
            raise CapabilityError("generator", generator.name,
                                  "deepconf online cuts traces while they are generated, which this backend "
                                  "cannot; use mode='offline'")
        needs_sampling(self.name, params)

    def _scored(self, cands: list[Candidate]) -> list[Candidate]:
        return [dataclasses.replace(c, score=lowest_group_confidence(c.logprobs or (), self.window)) for c in cands]

    async def run(self, problem: Problem, ctx: RunContext) -> Result:
        params = ctx.params.merge(logprobs=max(self.top_k, ctx.params.logprobs or 0))
        if self.mode == "offline":
            cands = self._scored(await sample(problem, ctx, self.n, params=params))
            ranked = sorted(range(len(cands)), key=lambda i: (-(cands[i].score or 0.0), i))
            kept = set(ranked[: max(1, math.ceil(self.keep * len(cands)))])
            threshold = min(cands[i].score or 0.0 for i in kept)
        else:
            warm = self._scored(await sample(problem, ctx, self.warmup, params=params, seed=_round_seed(ctx.seed, 0)))
            confs = sorted(c.score or 0.0 for c in warm)
            threshold = confs[min(len(confs) - 1, int(math.floor((1 - self.keep) * len(confs))))]
            rest = []
            if self.n > self.warmup:
                stop = ConfidenceStop(threshold=threshold, window=self.window, top_k=self.top_k)
                rest = self._scored(await sample(problem, ctx, self.n - self.warmup, params=params,
                                                 seed=_round_seed(ctx.seed, 1), confidence_stop=stop))
            cands = warm + rest
            kept = {i for i, c in enumerate(cands) if c.finish_reason != "cutoff" and (c.score or 0.0) >= threshold}
            if not kept:
                kept = set(range(len(cands)))
        ctx.event("filter", mode=self.mode, threshold=round(threshold, 4), kept=sorted(kept),
                  cut=[i for i, c in enumerate(cands) if c.finish_reason == "cutoff"],
                  confidences=[round(c.score or 0.0, 4) for c in cands])
        voters = [c if i in kept else dataclasses.replace(c, answer=None) for i, c in enumerate(cands)]
        answer, chosen = await decide(voters, ctx, weighted=True)
        return finish(ctx, self.name, problem, cands, answer, chosen)


SPECS = (
    StrategySpec(name="adaptive-vote", build=AdaptiveVote, options=AdaptiveVoteOptions,
                 summary="sample in rounds until the vote is settled (Beta posterior or a unanimous round)",
                 paper="Aggarwal et al. 2023; Li et al. 2024", n_means="the most samples a question may use",
                 default_n=16),
    StrategySpec(name="deepconf", build=DeepConf, options=DeepConfOptions,
                 summary="confidence-filtered, confidence-weighted vote; online mode cuts unsure traces early",
                 paper="Fu et al. 2025", n_means="traces", default_n=16,
                 needs="top-k logprobs; online mode a backend that stops traces mid-generation"),
)
