"""One error tree for the whole engine, so callers (CLI, server, eval harness) can map failures.

    PonderError
    ├── ConfigError (also ValueError)       bad input: names the parameter and the value
    │   ├── CapabilityError                  a strategy/verifier needs what the backend lacks
    │   └── ModelNotFoundError               a model name or path that does not resolve
    ├── BackendError                         a generator call failed
    │   ├── RetryableBackendError            timeouts, 429, 5xx, dropped connections
    │   └── FatalBackendError                4xx other than 429, malformed responses
    └── BudgetExhaustedError                 nothing could be done within the budget

The server maps ConfigError → 400, BudgetExhaustedError → 429, RetryableBackendError → 504/502,
FatalBackendError → 502. A failed candidate inside a strategy is recorded in the trace, not raised.
"""

from __future__ import annotations

import reprlib
from typing import Any


class PonderError(Exception):
    """Base class of every error ponder raises on purpose."""


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 160
_SHORT.maxlist = _SHORT.maxdict = _SHORT.maxtuple = 12
_SHORT.maxlevel = 3
_SHORT.maxlong = 60


class ConfigError(PonderError, ValueError):
    """Invalid user input. Always names the offending parameter and its value."""

    def __init__(self, param: str, value: Any, why: str) -> None:
        self.param = param
        self.value = value
        self.why = why
        super().__init__(f"{param}={_SHORT.repr(value)}: {why}")  # a long value is shown in part


class CapabilityError(ConfigError):
    """A strategy or verifier was paired with a generator that lacks a capability it needs."""


class ModelNotFoundError(ConfigError):
    """A model name or path that does not resolve to a loadable file."""


class BackendError(PonderError):
    """A call to a generation backend failed."""

    retryable: bool = False

    def __init__(self, message: str, *, status: int | None = None, timeout: bool = False) -> None:
        self.status = status
        self.timeout = timeout
        """It failed by running out of time (the server answers 504, not 502)."""
        super().__init__(message)


class RetryableBackendError(BackendError):
    """Transient failure (timeout, rate limit, 5xx); the caller may retry within bounds."""

    retryable = True


class FatalBackendError(BackendError):
    """Failure that retrying will not fix (bad request, malformed response)."""


class BudgetExhaustedError(PonderError):
    """The budget did not allow even the smallest unit of work."""
