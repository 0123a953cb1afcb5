"""Bounded retries for HTTP calls: one loop for every HTTP client in ponder (the OpenAI-compatible
generator's plain calls and its streams, the HTTP reward model).

Timeouts, connection errors, 408/409/429 and 5xx are retried with exponential backoff (Retry-After
honoured, capped), never past a deadline, each attempt inside the caller's concurrency limit; every
retry and the final failure are appended to `events` so they end up in the trace. Other 4xx fail at
once. An attempt that fails after it has already delivered data (a stream cut midway) is not retried:
it raises `RetryableBackendError` itself, and the loop records it as the final failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from ponder.errors import FatalBackendError, RetryableBackendError

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 20.0
    timeout: float = 600.0


class TryAgain(Exception):
    """An attempt's failure that the loop may retry: a retryable HTTP status (with its Retry-After)."""

    def __init__(self, error: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(error)
        self.error, self.status, self.retry_after = error, status, retry_after


def check_status(resp: httpx.Response, label: str) -> None:
    """Raise for an error response (read it first when streaming): `TryAgain` for a retryable status,
    `FatalBackendError` for any other 4xx/5xx."""
    if resp.status_code < 400:
        return
    status, err = resp.status_code, f"HTTP {resp.status_code}: {resp.text[:300]}"
    if status not in RETRY_STATUS:
        raise FatalBackendError(f"{label}: {err}", status=status)
    ra = resp.headers.get("retry-after")
    raise TryAgain(err, status, float(ra) if ra and ra.replace(".", "", 1).isdigit() else None)


async def with_retries(attempt: Callable[[float], Awaitable[T]], *, label: str, policy: RetryPolicy,
                       events: list[dict[str, Any]], deadline: float | None = None,
                       sem: asyncio.Semaphore | None = None) -> T:
    """Run `attempt(timeout)` until it returns, retrying `TryAgain`, timeouts and transport errors."""
    tries = 0
    while True:
        timeout = policy.timeout
        if deadline is not None:
            timeout = max(0.001, min(timeout, deadline - time.monotonic()))
        delay = min(policy.max_backoff_s, policy.backoff_s * 2 ** tries)
        status: int | None = None
        timed_out = False
        try:
            if sem is None:
                return await attempt(timeout)
            async with sem:
                return await attempt(timeout)
        except (httpx.TimeoutException, httpx.TransportError) as e:
            err = f"{type(e).__name__}: {e}"
            timed_out = isinstance(e, httpx.TimeoutException)
        except TryAgain as e:
            err, status = e.error, e.status
            if e.retry_after is not None:
                delay = min(policy.max_backoff_s, e.retry_after)
        except (RetryableBackendError, FatalBackendError) as e:
            events.append({"event": "backend_error", "path": label, "error": str(e)[:300], "attempts": tries + 1})
            raise
        out_of_time = deadline is not None and time.monotonic() + delay >= deadline
        if tries >= policy.max_retries or out_of_time:
            events.append({"event": "backend_error", "path": label, "error": err, "attempts": tries + 1})
            raise RetryableBackendError(f"{label} failed after {tries + 1} attempt(s): {err}", status=status,
                                        timeout=timed_out or out_of_time)
        tries += 1
        events.append({"event": "retry", "path": label, "attempt": tries, "error": err, "delay_s": delay})
        await asyncio.sleep(delay)


async def post_json(client: httpx.AsyncClient, url: str, body: dict[str, Any], *, label: str,
                    policy: RetryPolicy, events: list[dict[str, Any]], deadline: float | None = None,
                    sem: asyncio.Semaphore | None = None) -> dict[str, Any]:
    """POST `body` and return the JSON answer, with `with_retries`."""

    async def attempt(timeout: float) -> dict[str, Any]:
        resp = await client.post(url, json=body, timeout=timeout)
        check_status(resp, label)
        try:
            data: dict[str, Any] = resp.json()
        except ValueError as e:
            raise FatalBackendError(f"{label}: response is not JSON: {e}") from e
        return data

    return await with_retries(attempt, label=label, policy=policy, events=events, deadline=deadline, sem=sem)
