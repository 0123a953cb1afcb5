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
