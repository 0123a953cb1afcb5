"""uvicorn's HTTP/1.1 protocol with a time limit on request headers.

uvicorn bounds the size of request headers but not the time to send them: a client that trickles
its header lines holds a connection for as long as it likes (it holds no serving slot — bodies are
bounded by `server.body` — but enough of them exhaust sockets). This subclass of uvicorn's h11
protocol closes a connection whose request headers are not complete within `header_timeout_s` of
the connection opening, or, on a kept-alive connection, of the next request's first bytes. Idle time
between requests is not header time: uvicorn's keep-alive timeout bounds it.

Written against uvicorn's documented extension point (a protocol class passed as `http=`); it uses
the protocol's `conn` (the h11 state machine), `loop` and `transport`, which that class has had
since uvicorn 0.13.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


def with_header_timeout(header_timeout_s: float) -> type[H11Protocol]:
    """An h11 protocol class for `uvicorn.run(http=...)` that enforces the header time limit."""

    class H11WithHeaderTimeout(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._header_timer = self.loop.call_later(header_timeout_s, self._headers_too_slow)

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                if self._header_timer is not None:
                    self._header_timer.cancel()  # the headers are in
                    self._header_timer = None
            elif self._header_timer is None and data:
                self._arm()  # the next request on a kept-alive connection started: its headers get the time

        def connection_lost(self, exc: Exception | None) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
            super().connection_lost(exc)

    return H11WithHeaderTimeout
