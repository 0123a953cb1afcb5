"""LLM-as-judge: ask a model (any generator) whether a candidate solution is correct.

With logprobs, the score is P(yes) / (P(yes) + P(no)) read from the first answer token's top
alternatives (one token generated per candidate). Without logprobs, the judge samples `votes` short
verdicts per candidate and the score is the fraction that say yes. All candidates go to the generator
in one batched call; the judge's tokens are part of the result's usage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ponder.backends.base import Generator, raise_errors
from ponder.errors import ConfigError
from ponder.params import SamplingParams
from ponder.types import Candidate, GenRequest, GenResponse, Message, Problem
from ponder.usage import Usage
from ponder.verifiers.base import Scores

DEFAULT_TEMPLATE = (
    "Here is a problem and a proposed solution.\n\nProblem:\n{question}\n\nProposed solution:\n"
    "{solution}\n\nIs the proposed solution correct? Answer with a single word, Yes or No."
)
_YES = ("yes", "y", "correct", "true")
_NO = ("no", "n", "incorrect", "false", "wrong")


def _verdict(token: str) -> str | None:
    t = token.strip().strip(".,:!*\"'").lower()
    if t in _YES:
        return "yes"
    if t in _NO:
        return "no"
    return None


def yes_probability(resp: GenResponse, *, logprobs: bool) -> float:
    """P(yes) from a one-token verdict's top logprobs (yes vs no mass), or the share of sampled
    verdicts that say yes. 0.5 when the model said neither."""
    if logprobs:
        out = resp.outputs[0]
        top = out.logprobs[0].top if out.logprobs else ()
        mass = {"yes": 0.0, "no": 0.0}
        for tok, lp in top:
            v = _verdict(tok)
            if v:
                mass[v] += math.exp(lp)
        total = mass["yes"] + mass["no"]
        return mass["yes"] / total if total > 0 else 0.5
    said = [_verdict((o.text.split() or [""])[0]) for o in resp.outputs]
    return sum(v == "yes" for v in said) / len(said)


def verdict_request(text: str, *, use_logprobs: bool, votes: int, seed: int) -> GenRequest:
    """A request for a yes/no verdict on `text`: one greedy token with logprobs, or `votes` samples."""
    if use_logprobs:
        return GenRequest(messages=(Message("user", text),), n=1,
                          params=SamplingParams(temperature=0.0, max_tokens=1, logprobs=20), seed=seed)
    return GenRequest(messages=(Message("user", text),), n=votes,
                      params=SamplingParams(temperature=0.7, max_tokens=3), seed=seed)


class LLMJudge:
    """generator: the judge model. template: uses {question} and {solution}. votes: verdicts sampled
    per candidate when the generator has no logprobs. seed: for those samples."""

    logprobs = None
    oracle = False

    def __init__(self, generator: Generator, *, template: str = DEFAULT_TEMPLATE, votes: int = 5,
                 seed: int = 0, max_solution_chars: int = 6000) -> None:
        if "{solution}" not in template or "{question}" not in template:
            raise ConfigError("template", template, "must contain {question} and {solution}")
        if not isinstance(votes, int) or votes < 1:
            raise ConfigError("votes", votes, "must be an integer >= 1")
        self.generator, self.template, self.votes, self.seed = generator, template, votes, seed
        self.max_solution_chars = max_solution_chars
        self._use_logprobs = generator.capabilities.logprobs and generator.capabilities.top_logprobs >= 5

    @property
    def name(self) -> str:
        return f"judge:{self.generator.name}"

    @property
    def tokens_per_candidate(self) -> int:
        """Most tokens the judge generates per candidate; strategies reserve them in the budget."""
        return 1 if self._use_logprobs else 3 * self.votes

    def _request(self, problem: Problem, c: Candidate) -> GenRequest:
        text = self.template.format(question=problem.question,
                                    solution=c.text[-self.max_solution_chars:])
        return verdict_request(text, use_logprobs=self._use_logprobs, votes=self.votes, seed=self.seed)

    def _score(self, resp: GenResponse) -> float:
        return yes_probability(resp, logprobs=self._use_logprobs)

    async def score(self, problem: Problem, candidates: Sequence[Candidate]) -> Scores:
        if not candidates:
            return Scores((), Usage())
        resps = await self.generator.generate([self._request(problem, c) for c in candidates])
        raise_errors(resps)
        return Scores(tuple(self._score(r) for r in resps), sum((r.usage for r in resps), Usage()))
