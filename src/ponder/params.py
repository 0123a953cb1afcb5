"""Validated, frozen parameter structs: how to sample (`SamplingParams`) and how much to spend (`Budget`).

Every field is checked in `__post_init__` and a bad value raises `ConfigError` naming the field and the
value. Layering (defaults ← recipe ← request) is `merge()`, which returns a new object.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ponder.errors import ConfigError


def check_number(name: str, value: Any, *, lo: float | None = None, hi: float | None = None,
                  lo_open: bool = False, integer: bool = False) -> None:
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or (not integer and not math.isfinite(value)):
        kind = "an integer" if integer else "a finite number"
        raise ConfigError(name, value, f"must be {kind}")
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise ConfigError(name, value, f"must be {'>' if lo_open else '>='} {lo}")
    if hi is not None and value > hi:
        raise ConfigError(name, value, f"must be <= {hi}")


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How one sample is drawn. Shared by every backend; a backend that cannot honour a field says so
    through its capabilities rather than silently ignoring it."""

    temperature: float = 0.7
    """Softmax temperature; 0 means greedy (argmax) decoding."""
    top_p: float = 1.0
    """Nucleus sampling: keep the smallest set of tokens whose probability reaches top_p (0 < p <= 1)."""
    top_k: int = 0
    """Keep only the k most likely tokens; 0 disables."""
    min_p: float = 0.0
    """Drop tokens whose probability is below min_p × the top token's probability; 0 disables."""
    max_tokens: int = 512
    """Maximum number of generated tokens per sample."""
    stop: tuple[str, ...] = ()
    """Strings that end a sample; the stop string itself is not included in the text."""
    logprobs: int | None = None
    """None: no logprobs. 0: log-probability of each chosen token. k > 0: also the k most likely
    alternatives at each position (needed by DeepConf-style confidence)."""

    def __post_init__(self) -> None:
        check_number("temperature", self.temperature, lo=0.0)
        check_number("top_p", self.top_p, lo=0.0, lo_open=True, hi=1.0)
        check_number("top_k", self.top_k, lo=0, integer=True)
        check_number("min_p", self.min_p, lo=0.0, hi=1.0)
        check_number("max_tokens", self.max_tokens, lo=1, integer=True)
        for name in ("temperature", "top_p", "min_p"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.logprobs is not None:
            check_number("logprobs", self.logprobs, lo=0, hi=20, integer=True)
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)
        if any(not isinstance(s, str) or not s for s in stop):
            raise ConfigError("stop", self.stop, "must be non-empty strings")
        object.__setattr__(self, "stop", stop)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def merge(self, **overrides: Any) -> SamplingParams:
        """A copy with the given fields replaced (None values are ignored), validated again."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            name = sorted(unknown)[0]
            known = ", ".join(f.name for f in dataclasses.fields(self))
            raise ConfigError(name, changes[name], f"is not a sampling parameter ({known}); a strategy's own "
                                                   "options go in options={...}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class Budget:
    """How much one problem may spend, in the units users reason in. Any limit can bind; None is
    unlimited.

    `samples` counts full-solution equivalents (N in the scaling literature): every strategy maps its
    work onto it the same way, so curves of different strategies share an x-axis.
    """

    samples: int | None = None
    """Maximum full-solution samples (N)."""
    tokens: int | None = None
    """Maximum generated tokens, summed over every sample and verifier call."""
    wall_s: float | None = None
    """Maximum wall-clock seconds."""

    def __post_init__(self) -> None:
        if self.samples is not None:
            check_number("budget.samples", self.samples, lo=1, integer=True)
        if self.tokens is not None:
            check_number("budget.tokens", self.tokens, lo=1, integer=True)
        if self.wall_s is not None:
            check_number("budget.wall_s", self.wall_s, lo=0.0, lo_open=True)

    def merge(self, **overrides: Any) -> Budget:
        """A copy with the given limits replaced (None values are ignored), validated again."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            name = sorted(unknown)[0]
            raise ConfigError(name, changes[name], "is not a budget limit (samples, tokens, wall_s)")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
