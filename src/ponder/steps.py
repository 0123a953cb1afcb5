"""Solutions as lists of steps, and how step scores aggregate into one solution score.

A step is the text between separators (default a blank line, as in the Hugging Face search recipes
and most PRM training data). Search strategies generate one step per call by using the separator
as a stop string; PRMs score each step. Aggregations: `last` (the final step's score, the HF study's
choice), `min`, `prod`, `mean`, the same four search-and-learn and its_hub expose.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ponder.errors import ConfigError

DEFAULT_SEPARATOR = "\n\n"
AGGREGATIONS = ("last", "min", "prod", "mean")


def split_steps(text: str, separator: str = DEFAULT_SEPARATOR) -> list[str]:
    """Non-empty steps of a solution (surrounding whitespace of each step removed)."""
    return [s.strip() for s in text.split(separator) if s.strip()]


def join_steps(steps: Sequence[str], separator: str = DEFAULT_SEPARATOR) -> str:
    return separator.join(steps)


def check_aggregation(how: str) -> str:
    if how not in AGGREGATIONS:
        raise ConfigError("aggregate", how, f"must be one of {', '.join(AGGREGATIONS)}")
    return how


def aggregate(scores: Sequence[float], how: str = "last") -> float:
    """One score from a solution's step scores (0.0 for a solution with no steps)."""
    check_aggregation(how)
    if not scores:
        return 0.0
    if how == "last":
        return float(scores[-1])
    if how == "min":
        return float(min(scores))
    if how == "prod":
        return float(math.prod(scores))
    return float(sum(scores) / len(scores))
