"""Budget enforcement for one problem: what is left, and how much of a request may go ahead.

Strategies never ask the generator for more than the meter grants, so a budget is never exceeded:
samples and generated tokens are reserved before a call (n × max_tokens, plus what the verifier may
spend), and the wall-clock limit becomes a decode deadline the backends honour.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ponder.errors import BudgetExhaustedError
from ponder.params import Budget
from ponder.usage import Usage


@dataclass(frozen=True, slots=True)
class Grant:
    n: int
    max_tokens: int
    reason: str | None = None
    """Why less than asked was granted (None: all of it)."""


class BudgetMeter:
    """Tracks what one strategy run has spent against its Budget."""

    def __init__(self, budget: Budget, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget
        self._clock = clock
        self.started = clock()
        self.samples_used = 0
        self.tokens_used = 0

    @property
    def deadline(self) -> float | None:
        return None if self.budget.wall_s is None else self.started + self.budget.wall_s

    def tokens_left(self) -> int | None:
        return None if self.budget.tokens is None else self.budget.tokens - self.tokens_used

    def samples_left(self) -> int | None:
        return None if self.budget.samples is None else self.budget.samples - self.samples_used

    def grant(self, n: int, max_tokens: int, *, extra_tokens_per_sample: int = 0,
              count_samples: bool = True) -> Grant:
        """Reserve up to n samples of up to max_tokens each (plus verifier tokens per sample).
        Fewer samples are granted before shorter ones: truncated solutions are worthless.
        Step searches reserve steps with count_samples=False: their N is set by the strategy, and
        only the token and wall limits bind per call.
        Raises BudgetExhaustedError when not even one token can be spent."""
        reason = None
        if self.deadline is not None and self._clock() >= self.deadline:
            raise BudgetExhaustedError(f"wall-clock budget of {self.budget.wall_s}s is spent")
        left = self.samples_left() if count_samples else None
        if left is not None and n > left:
            n, reason = left, "samples"
        if n < 1:
            raise BudgetExhaustedError(f"sample budget of {self.budget.samples} is spent")
        tl = self.tokens_left()
        if tl is not None:
            per = max_tokens + extra_tokens_per_sample
            if n * per > tl:
                n, reason = max(1, tl // per), "tokens"
                if n * per > tl:  # not even one full sample fits: shorten it
                    max_tokens = tl - extra_tokens_per_sample
                    if max_tokens < 1:
                        raise BudgetExhaustedError(f"token budget of {self.budget.tokens} is spent")
        if count_samples:
            self.samples_used += n
        self.tokens_used += n * (max_tokens + extra_tokens_per_sample)
        return Grant(n=n, max_tokens=max_tokens, reason=reason)

    def settle(self, granted: Grant, spent: Usage, *, extra_tokens_per_sample: int = 0) -> None:
        """Replace a grant's reservation with what was actually spent."""
        reserved = granted.n * (granted.max_tokens + extra_tokens_per_sample)
        actual = spent.completion_tokens if spent.completion_tokens is not None else reserved
        self.tokens_used += actual - reserved
