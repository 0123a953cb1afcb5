"""The gate in front of /v1/: the API key, the in-flight limit (429 with Retry-After), and request
counts and latencies for /metrics. A request holds its in-flight slot until its body is sent, so a
stream counts while it streams and a client that goes away releases it. Other paths (/ui, /metrics,
/health) pass through uncounted: they never take a generation slot; /metrics needs the key too (it
shows the server's traffic), /health and the page itself do not.

A plain ASGI middleware, not Starlette's `BaseHTTPMiddleware`: that one hides the client's disconnect
from the endpoint (`request.is_disconnected()` never turns true behind it), and a non-streamed request
must see its client leave to stop its work.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ponder.server import errors
from ponder.server.service import Service


class Gate:
    def __init__(self, app: ASGIApp, *, svc: Service, route_label: Callable[[str], str]) -> None:
        self.app, self.svc, self.route_label = app, svc, route_label

    async def _reject(self, send: Send, path: str, e: errors.APIError, headers: dict[str, str] | None = None) -> None:
        self.svc.metrics.requests.labels(self.route_label(path), str(e.status)).inc()
        body = json.dumps(e.body()).encode()
        extra = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": e.status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()), *extra]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        svc, path = self.svc, scope.get("path", "")
        keys = svc.config.api_keys
        if keys and (path.startswith("/v1/") or path == "/metrics"):  # the API, and what it reveals of traffic
            auth = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
            if not auth.startswith("Bearer ") or auth[7:] not in keys:
                await self._reject(send, path, errors.APIError(401, "invalid or missing API key",
                                                               type="authentication_error", code="invalid_api_key"))
                return
        if not path.startswith("/v1/"):  # /ui, /metrics, /health: not generation, not counted
            await self.app(scope, receive, send)
            return
        if svc.inflight >= svc.config.max_inflight:
            await self._reject(send, path, errors.APIError(429, f"over capacity: {svc.inflight} requests in flight",
                                                           type="rate_limit", code="over_capacity"),
                               {"retry-after": "1"})
            return
        t0 = time.perf_counter()
        svc.inflight += 1
        svc.metrics.inflight.inc()
        status = {"code": 500}

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            # returns once the body is sent (a stream counts while it streams) or the client is gone
            await self.app(scope, receive, watched)
        finally:
            svc.inflight -= 1
            svc.metrics.inflight.dec()
            label = self.route_label(path)
            svc.metrics.requests.labels(label, str(status["code"])).inc()
            svc.metrics.latency.labels(label).observe(time.perf_counter() - t0)


def install(app: Any, svc: Service, route_label: Callable[[str], str]) -> None:
    """Add the gate to `app` (outside the routes, inside the body guard)."""
    app.add_middleware(Gate, svc=svc, route_label=route_label)
