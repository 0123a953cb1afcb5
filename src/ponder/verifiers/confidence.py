"""Token-confidence verifiers: score a candidate by how sure the model was while writing it.

No extra model calls: the scores come from logprobs the generator returned with the samples.
- `mean`: geometric-mean probability of the chosen tokens, exp(mean logprob), in (0, 1].
- `lowest-group` (DeepConf, Fu et al. 2025): token confidence C_i = −mean of the top-k logprobs at
  position i; group confidence = mean C over a sliding window; the score is the lowest group.
- `tail`: mean token confidence over the last `window` tokens (DeepConf's tail confidence).
Higher is more confident in every method; all are non-negative so they can weight votes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ponder.errors import ConfigError
from ponder.types import Candidate, Problem, TokenLogprob, token_confidence
from ponder.verifiers.base import Scores

METHODS = ("mean", "lowest-group", "tail")


def lowest_group_confidence(logprobs: Sequence[TokenLogprob], window: int) -> float:
    conf = [token_confidence(t) for t in logprobs]
    if not conf:
        return 0.0
    w = min(window, len(conf))
    run = sum(conf[:w])
    best = run
    for i in range(w, len(conf)):
        run += conf[i] - conf[i - w]
        best = min(best, run)
    return best / w


def tail_confidence(logprobs: Sequence[TokenLogprob], window: int) -> float:
    conf = [token_confidence(t) for t in logprobs[-window:]]
    return sum(conf) / len(conf) if conf else 0.0


def mean_probability(logprobs: Sequence[TokenLogprob]) -> float:
    if not logprobs:
        return 0.0
    return math.exp(sum(t.logprob for t in logprobs) / len(logprobs))


class ConfidenceVerifier:
    """method: one of `mean`, `lowest-group`, `tail`. top_k: alternatives per token the generator
    must report (DeepConf methods only). window: group / tail size in tokens."""

    def __init__(self, method: str = "lowest-group", *, top_k: int = 5, window: int = 32) -> None:
        if method not in METHODS:
            raise ConfigError("method", method, f"must be one of {', '.join(METHODS)}")
        if not isinstance(top_k, int) or not 1 <= top_k <= 20:
            raise ConfigError("top_k", top_k, "must be an integer in 1..20")
        if not isinstance(window, int) or window < 1:
            raise ConfigError("window", window, "must be an integer >= 1")
        self.method, self.top_k, self.window = method, top_k, window

    @property
    def name(self) -> str:
        return f"confidence:{self.method}"

    @property
    def logprobs(self) -> int | None:
        return 0 if self.method == "mean" else self.top_k

    @property
    def oracle(self) -> bool:
        return False

    def score_one(self, c: Candidate) -> float:
        if not c.logprobs:
            return 0.0
        if self.method == "mean":
            return mean_probability(c.logprobs)
        if self.method == "tail":
            return tail_confidence(c.logprobs, self.window)
        return lowest_group_confidence(c.logprobs, self.window)

    async def score(self, problem: Problem, candidates: Sequence[Candidate]) -> Scores:
        return Scores(tuple(self.score_one(c) for c in candidates))
