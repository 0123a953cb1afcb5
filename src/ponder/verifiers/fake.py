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


class ScriptedStepVerifier:
    """A scripted PRM: `script(problem, steps_so_far) -> score of the last step`. Scores every step
    prefix when asked for all steps. Also an outcome verifier (aggregate='last' by default)."""

    logprobs = None
    oracle = False

    def __init__(self, script: Callable[[Problem, tuple[str, ...]], float], *, aggregate: str = "last",
                 separator: str = "\n\n", name: str = "scripted-prm") -> None:
        from ponder.steps import check_aggregation

        self._script, self.aggregate, self.separator, self.name = script, check_aggregation(aggregate), separator, name
        self.calls = 0

    async def score_steps(self, problem: Problem, solutions: Sequence[Sequence[str]], *,
                          last_only: bool = False):
        from ponder.verifiers.base import StepScores

        self.calls += 1
        vals = []
        for steps in solutions:
            ks = [len(steps)] if last_only and steps else range(1, len(steps) + 1)
            vals.append(tuple(float(self._script(problem, tuple(steps[:k]))) for k in ks))
        return StepScores(tuple(vals))

    async def score(self, problem: Problem, candidates: Sequence[Candidate]) -> Scores:
        from ponder.steps import aggregate, split_steps

        got = await self.score_steps(problem, [split_steps(c.text, self.separator) or [c.text] for c in candidates])
        return Scores(tuple(aggregate(v, self.aggregate) for v in got.values), got.usage)
