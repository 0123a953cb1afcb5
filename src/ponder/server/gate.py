"""The gate in front of /v1/: the API key, the in-flight limit (429 with Retry-After), and request
counts and latencies for /metrics. A request holds its in-flight slot until its body is sent, so a
stream counts while it streams and a client that goes away releases it. Other paths (/ui, /metrics,
/health) pass through uncounted: they never take a generation slot.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ponder.server import errors
from ponder.server.service import Service


def install(app: FastAPI, svc: Service, route_label: Callable[[str], str]) -> None:
    """Add the gate to `app` as an HTTP middleware."""

    def reject(path: str, e: errors.APIError, headers: dict[str, str] | None = None) -> JSONResponse:
        svc.metrics.requests.labels(route_label(path), str(e.status)).inc()
        return JSONResponse(e.body(), status_code=e.status, headers=headers)

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if path.startswith("/v1/"):
            if svc.config.api_keys:
                auth = request.headers.get("authorization", "")
                if not auth.startswith("Bearer ") or auth[7:] not in svc.config.api_keys:
                    return reject(path, errors.APIError(401, "invalid or missing API key",
                                                        type="authentication_error", code="invalid_api_key"))
            if svc.inflight >= svc.config.max_inflight:
                return reject(path, errors.APIError(429, f"over capacity: {svc.inflight} requests in flight",
                                                    type="rate_limit", code="over_capacity"), {"retry-after": "1"})
        if not path.startswith("/v1/"):  # /ui, /metrics, /health: not generation, not counted
            return await call_next(request)
        t0 = time.perf_counter()
        svc.inflight += 1
        svc.metrics.inflight.inc()
        done = False

        def release(status: int) -> None:
            nonlocal done
            if done:
                return
            done = True
            svc.inflight -= 1
            svc.metrics.inflight.dec()
            label = route_label(path)
            svc.metrics.requests.labels(label, str(status)).inc()
            svc.metrics.latency.labels(label).observe(time.perf_counter() - t0)

        try:
            response = await call_next(request)
        except BaseException:
            release(500)
            raise
        body = getattr(response, "body_iterator", None)
        if body is None:
            release(response.status_code)
            return response

        async def counted() -> AsyncIterator[Any]:
            # a request holds its in-flight slot until its body is sent: a stream counts while it
            # streams, and a client that goes away releases it (the iterator is closed)
            try:
                async for part in body:
                    yield part
            finally:
                release(response.status_code)

        setattr(response, "body_iterator", counted())  # noqa: B010 - a streaming response's attribute
        return response
