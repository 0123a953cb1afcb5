"""The verifier protocol: score candidate solutions of a problem, higher is better.

A verifier declares what it needs from the generator that produced the candidates (`logprobs`: None,
or how many top alternatives per token) so a strategy can check the pairing when it is built. Scores
come back with the compute the verifier spent (an LLM judge costs tokens too), so results sum it.
`oracle` marks verifiers that read the reference answer: fine for evaluation, never for deployment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ponder.types import Candidate, Problem
from ponder.usage import Usage


@dataclass(frozen=True, slots=True)
class Scores:
    values: tuple[float, ...]
    """One score per candidate, in order. Non-negative, so weighted votes can add them."""
    usage: Usage = Usage()


@runtime_checkable
class Verifier(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def logprobs(self) -> int | None:
        """Top alternatives per token the candidates must carry (None: no logprobs needed)."""
        ...

    @property
    def oracle(self) -> bool: ...

    async def score(self, problem: Problem, candidates: Sequence[Candidate]) -> Scores: ...


@dataclass(frozen=True, slots=True)
class StepScores:
    values: tuple[tuple[float, ...], ...]
    """Per solution, one score per step (or only the last step's, when asked for last_only)."""
    usage: Usage = Usage()


@runtime_checkable
class StepVerifier(Protocol):
    """A process reward model: scores each step of (partial) solutions. Every step verifier is also
    an outcome `Verifier` (its `score` splits candidates into steps and aggregates)."""

    @property
    def name(self) -> str: ...

    @property
    def logprobs(self) -> int | None: ...

    @property
    def oracle(self) -> bool: ...

    async def score_steps(self, problem: Problem, solutions: Sequence[Sequence[str]], *,
                          last_only: bool = False) -> StepScores: ...

    async def score(self, problem: Problem, candidates: Sequence[Candidate]) -> Scores: ...


class OutcomeFromSteps:
    """Mixin: `score` for a step verifier, by splitting candidates into steps and aggregating."""

    aggregate: str = "last"
    separator: str = "\n\n"

    async def score(self, problem: Problem, candidates: Sequence[Candidate]) -> Scores:
        from ponder.steps import aggregate, split_steps

        sols = [split_steps(c.text, self.separator) or [c.text] for c in candidates]
        # the "last" aggregate needs only the final step's score: do not pay for the others
        got = await self.score_steps(problem, sols, last_only=self.aggregate == "last")  # type: ignore[attr-defined]
        return Scores(tuple(aggregate(v, self.aggregate) for v in got.values), got.usage)


def generated_tokens(verifier: object) -> int:
    """Most tokens a verifier generates per candidate or step it scores (an LLM judge's verdict, an
    LLM-as-PRM's per step); 0 for verifiers that only read the samples. Budgets and the server's cost
    bound reserve them."""
    return int(getattr(verifier, "tokens_per_candidate", 0) or 0) + int(getattr(verifier, "tokens_per_step", 0) or 0)
