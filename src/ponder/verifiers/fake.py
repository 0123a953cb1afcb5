"""A scripted verifier for exact strategy tests: scores come from a function or a text → score map."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ponder.types import Candidate, Problem
from ponder.usage import Usage
from ponder.verifiers.base import Scores


class ScriptedVerifier:
    """Scores each candidate with `script(problem, candidate)`, or looks its answer (then its text)
    up in a mapping, falling back to `default`. Every call is kept in `self.calls`."""

    def __init__(self, script: Callable[[Problem, Candidate], float] | Mapping[str, float],
                 *, default: float = 0.0, name: str = "scripted") -> None:
        self._script = script
        self._default = default
        self._name = name
        self.calls: list[tuple[Problem, tuple[Candidate, ...]]] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def logprobs(self) -> int | None:
        return None

    @property
    def oracle(self) -> bool:
        return False

    def _one(self, problem: Problem, c: Candidate) -> float:
        if callable(self._script):
            return float(self._script(problem, c))
        if c.answer is not None and c.answer in self._script:
            return float(self._script[c.answer])
        return float(self._script.get(c.text, self._default))

    async def score(self, problem: Problem, candidates: Sequence[Candidate]) -> Scores:
        self.calls.append((problem, tuple(candidates)))
        return Scores(tuple(self._one(problem, c) for c in candidates),
                      Usage(prompt_tokens=0, completion_tokens=0, calls=0, wall_s=0.0, flops_estimate=0.0))
