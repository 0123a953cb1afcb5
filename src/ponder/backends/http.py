"""POST JSON with bounded retries: one implementation for every HTTP client in ponder (the OpenAI-
compatible generator, the HTTP reward model).

Timeouts, connection errors, 408/409/429 and 5xx are retried with exponential backoff (Retry-After
honoured, capped), never past a deadline; every retry and the final failure are appended to
`events` so they end up in the trace. Other 4xx fail at once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

from ponder.errors import FatalBackendError, RetryableBackendError

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 20.0
    timeout: float = 600.0


async def post_json(client: httpx.AsyncClient, url: str, body: dict[str, Any], *, label: str,
                    policy: RetryPolicy, events: list[dict[str, Any]], deadline: float | None = None,
                    sem: asyncio.Semaphore | None = None) -> dict[str, Any]:
    attempt = 0
    while True:
        timeout = policy.timeout
        if deadline is not None:
            timeout = max(0.001, min(timeout, deadline - time.monotonic()))
        delay = min(policy.max_backoff_s, policy.backoff_s * 2 ** attempt)
        try:
            if sem is not None:
                async with sem:
                    resp = await client.post(url, json=body, timeout=timeout)
            else:
                resp = await client.post(url, json=body, timeout=timeout)
        except (httpx.TimeoutException, httpx.TransportError) as e:
            err: str = f"{type(e).__name__}: {e}"
            status = None
        else:
            if resp.status_code < 400:
                try:
                    return resp.json()
                except ValueError as e:
                    raise FatalBackendError(f"{label}: response is not JSON: {e}") from e
            status, err = resp.status_code, f"HTTP {resp.status_code}: {resp.text[:300]}"
            if status not in RETRY_STATUS:
                raise FatalBackendError(f"{label}: {err}", status=status)
            ra = resp.headers.get("retry-after")
            if ra and ra.replace(".", "", 1).isdigit():
                delay = min(policy.max_backoff_s, float(ra))
        out_of_time = deadline is not None and time.monotonic() + delay >= deadline
        if attempt >= policy.max_retries or out_of_time:
            events.append({"event": "backend_error", "path": label, "error": err, "attempts": attempt + 1})
            raise RetryableBackendError(f"{label} failed after {attempt + 1} attempt(s): {err}", status=status)
        attempt += 1
        events.append({"event": "retry", "path": label, "attempt": attempt, "error": err, "delay_s": delay})
        await asyncio.sleep(delay)
