"""Dynamic batching: gather concurrent `generate` calls into one backend batch.

Many server requests (or many problems in an eval) arrive at once, each asking for its own n
samples. Sent one by one, a llama.cpp backend decodes them one after another; gathered, it packs
their sequences into the same decode steps. `BatchingGenerator` waits up to `window_s` after the
first request (or until `max_requests` are waiting), sends them all in one call and hands each
caller its own responses. Usage stays per request; progress callbacks of a merged call all see the
batch's progress. Failures stay with their caller: a request the backend refuses comes back as that
caller's error response, and if the merged call raises, each caller's requests are sent again on
their own so one caller's bad request cannot fail the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ponder.backends.base import Capabilities, Generator, ProgressFn, cancellable
from ponder.errors import ConfigError
from ponder.types import GenRequest, GenResponse

HISTORY = 1024
"""Backend calls `BatchingGenerator.batches` keeps (the most recent)."""


@dataclass
class _Pending:
    requests: Sequence[GenRequest]
    progress: ProgressFn | None
    future: asyncio.Future = field(repr=False)
    sent: tuple[asyncio.Future, list[_Pending]] | None = field(default=None, repr=False)
    """Once sent: the backend call and every caller that shares it."""


class BatchingGenerator:
    """Wraps a generator; `window_s=0` sends whatever is waiting as soon as the loop is free."""

    def __init__(self, inner: Generator, *, window_s: float = 0.01, max_requests: int = 16,
                 on_batch: Callable[[int], None] | None = None) -> None:
        if window_s < 0:
            raise ConfigError("window_s", window_s, "must be >= 0")
        if not isinstance(max_requests, int) or max_requests < 1:
            raise ConfigError("max_requests", max_requests, "must be an integer >= 1")
        self.inner, self.window_s, self.max_requests = inner, window_s, max_requests
        self._queue: list[_Pending] = []
        self._flusher: asyncio.Task | None = None
        self._full: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_batch = on_batch
        self._sending: set[asyncio.Task] = set()
        self.batches: list[int] = []
        """Requests per backend call, most recent last (for metrics and tests): the last
        `HISTORY` calls at most, so a long-running server does not grow it."""

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    async def generate(self, requests: Sequence[GenRequest], *,
                       progress: ProgressFn | None = None) -> list[GenResponse]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (another asyncio.run): the old one's state is dead
            self._loop, self._queue, self._flusher, self._full = loop, [], None, asyncio.Event()
        return await cancellable(requests, lambda reqs: self._enqueue(loop, reqs, progress))

    async def _enqueue(self, loop: asyncio.AbstractEventLoop, requests: list[GenRequest],
                       progress: ProgressFn | None) -> list[GenResponse]:
        item = _Pending(requests, progress, loop.create_future())
        self._queue.append(item)
        assert self._full is not None
        if sum(len(p.requests) for p in self._queue) >= self.max_requests:
            self._full.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_after_window())
        try:
            return await item.future
        except asyncio.CancelledError:
            # a caller that went away leaves the queue (if still waiting) and, through its requests'
            # cancel tokens (set by `cancellable`), stops its sequences in a batch already sent; the
            # other callers of that batch are not affected. When no caller of a sent batch is left,
            # the backend call itself is cancelled (an HTTP upstream call is closed).
            if item in self._queue:
                self._queue.remove(item)
            if item.sent is not None:
                call, batch = item.sent
                if all(p.future.cancelled() for p in batch):
                    call.cancel()
            raise

    async def _flush_after_window(self) -> None:
        assert self._full is not None
        try:
            await asyncio.wait_for(self._full.wait(), timeout=self.window_s)
        except TimeoutError:
            pass
        while self._queue:
            batch: list[Any] = []
            size = 0
            while self._queue and (not batch or size + len(self._queue[0].requests) <= self.max_requests):
                p = self._queue.pop(0)
                batch.append(p)
                size += len(p.requests)
            self._full.clear()
            # sent as its own task: a later batch does not wait for this one to finish (a backend
            # that decodes one call at a time, llama.cpp, lets the later call join its running loop)
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[_Pending]) -> None:
        reqs = [r for p in batch for r in p.requests]
        callbacks = [p.progress for p in batch if p.progress is not None]

        def fan_out(k: int) -> None:
            for cb in callbacks:
                cb(k)

        self.batches.append(len(reqs))
        if len(self.batches) > 2 * HISTORY:
            del self.batches[:-HISTORY]
        if self._on_batch is not None:
            self._on_batch(len(reqs))
        call = asyncio.ensure_future(self.inner.generate(reqs, progress=fan_out if callbacks else None))
        for p in batch:
            p.sent = (call, batch)
        try:
            out = await call
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or not task.cancelling():
                return  # every caller went away and their call was cancelled: nothing to hand out
            call.cancel()  # the flusher itself is cancelled (its loop is closing): so is every caller
            for p in batch:
                p.future.cancel()
            raise
        except Exception as e:
            if len(batch) == 1:
                if not batch[0].future.done():
                    batch[0].future.set_exception(e)
                return
            # One caller's request may have failed the merged call: send each caller's requests
            # on their own, so each gets its own outcome (a backend outage fails them all anyway).
            for p in batch:
                await self._send([p])
            return
        i = 0
        for p in batch:
            if not p.future.done():
                p.future.set_result(out[i: i + len(p.requests)])
            i += len(p.requests)
