"""Compute accounting as a value: every backend call returns a `Usage`, results sum them.

Unknown is `None`, never 0: a backend that cannot count prompt tokens says so, and any sum that
includes an unknown term is itself unknown. Comparisons at matched compute depend on this honesty.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


def _add(a: float | int | None, b: float | int | None) -> Any:
    if a is None or b is None:
        return None
    return a + b


@dataclass(frozen=True, slots=True)
class Usage:
    """Compute spent. Sums with `+` and `sum(..., Usage())`.

    `wall_s` of a sum is the sum of the parts (sequential time); strategies replace it with the
    measured elapsed time of the whole run via `with_wall`.
    """

    prompt_tokens: int | None = 0
    """Prompt tokens submitted (a prompt shared by n samples counts once)."""
    completion_tokens: int | None = 0
    """Generated tokens, including tokens of samples cut off early."""
    calls: int = 0
    """Backend calls (one batched call with n samples counts once)."""
    wall_s: float | None = 0.0
    """Wall-clock seconds."""
    flops_estimate: float | None = 0.0
    """About 2 × parameters × tokens processed; None when the model size is unknown."""

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            prompt_tokens=_add(self.prompt_tokens, other.prompt_tokens),
            completion_tokens=_add(self.completion_tokens, other.completion_tokens),
            calls=self.calls + other.calls,
            wall_s=_add(self.wall_s, other.wall_s),
            flops_estimate=_add(self.flops_estimate, other.flops_estimate),
        )

    def __radd__(self, other: Any) -> Usage:
        if other == 0:  # lets builtin sum() start from 0
            return self
        return self.__add__(other)

    @property
    def total_tokens(self) -> int | None:
        if self.prompt_tokens is None or self.completion_tokens is None:
            return None
        return self.prompt_tokens + self.completion_tokens

    def with_wall(self, wall_s: float) -> Usage:
        return dataclasses.replace(self, wall_s=wall_s)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
