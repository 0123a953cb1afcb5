"""Programmatic verifiers: a check written in code rather than a model.

`ReferenceVerifier` compares a candidate's final answer with the problem's reference answer. It is an
**oracle** (it reads the answer key): use it to measure pass@N and to evaluate, never to pick answers
in deployment. `FunctionVerifier` wraps any user function, e.g. running unit tests on generated code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ponder.answers import equivalent
from ponder.errors import ConfigError
from ponder.types import Candidate, Problem
from ponder.verifiers.base import Scores


class ReferenceVerifier:
    """1.0 when the candidate's answer is equivalent to `problem.answer` (math-verify), else 0.0."""

    name = "reference"
    logprobs = None
    oracle = True

    async def score(self, problem: Problem, candidates: Sequence[Candidate]) -> Scores:
        if problem.answer is None:
            raise ConfigError("problem.answer", None,
                              "the reference verifier (an oracle) needs a reference answer")
        return Scores(tuple(1.0 if equivalent(c.answer, problem.answer) else 0.0 for c in candidates))


class FunctionVerifier:
    """Scores with `fn(problem, candidate) -> float | bool` (True → 1.0). Scores must be >= 0."""

    logprobs = None
    oracle = False

    def __init__(self, fn: Callable[[Problem, Candidate], float | bool], *, name: str = "function") -> None:
        self._fn = fn
        self.name = name

    async def score(self, problem: Problem, candidates: Sequence[Candidate]) -> Scores:
        vals = tuple(float(self._fn(problem, c)) for c in candidates)
        bad = [v for v in vals if v < 0]
        if bad:
            raise ConfigError("verifier", self.name, f"returned a negative score {bad[0]}")
        return Scores(vals)
