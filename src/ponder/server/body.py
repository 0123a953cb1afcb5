"""Read a request's whole body, bounded in size and time, before the request takes a serving slot.

A `Content-Length` check alone misses chunked bodies (a 50 MB chunked body was accepted), and a
client that sends its body slowly held an in-flight slot while it trickled in (four such connections
locked out everyone at `max_inflight=4`). This ASGI middleware sits outermost: it buffers the body of
every POST under `/v1/`, counting bytes as they arrive (413 past `max_bytes`, whatever the framing)
and giving up after `timeout_s` (408), and only then hands the request, body replayed, to the app,
where the in-flight cap applies. Header reads are uvicorn's (`h11_max_incomplete_event_size` bounds
their size; a slow-header client holds a socket, never a slot).

Written as a small ASGI wrapper because neither Starlette nor uvicorn bounds a chunked body or the
time to receive one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Reject(Exception):
    def __init__(self, status: int, message: str, code: str, type_: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.code, self.type = status, code, type_


class BodyGuard:
    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout_s: float | None,
                 on_reject: Callable[[str, int], None] | None = None) -> None:
        self.app, self.max_bytes, self.timeout_s, self.on_reject = app, max_bytes, timeout_s, on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or not scope.get("path", "").startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, send, _Reject(
                413, f"request body of {int(declared)} bytes exceeds {self.max_bytes}", "request_too_large"))
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                body, disconnected = await self._read(receive)
        except TimeoutError:
            await self._reject(scope, send, _Reject(
                408, f"the request body was not received within {self.timeout_s:g} s", "request_timeout",
                "timeout"))
            return
        except _Reject as e:
            await self._reject(scope, send, e)
            return
        if disconnected:
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # then whatever comes next (a disconnect)

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> tuple[bytes, bool]:
        parts, size = [], 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return b"", True
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise _Reject(413, f"request body exceeds {self.max_bytes} bytes", "request_too_large")
            parts.append(chunk)
            if not msg.get("more_body", False):
                return b"".join(parts), False

    async def _reject(self, scope: Scope, send: Send, e: _Reject) -> None:
        if self.on_reject is not None:
            self.on_reject(scope.get("path", ""), e.status)
        body = json.dumps({"error": {"message": str(e), "type": e.type, "param": None, "code": e.code}}).encode()
        await send({"type": "http.response.start", "status": e.status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
