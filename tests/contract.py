"""The request contract of `ponder/backends/base.py`, as checks any backend's tests call with their
generator: one request's failure is its own; a request cancelled by its caller, or past its deadline,
stops (finish "deadline") without holding up the others; a deadline during decoding is honoured."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time

from ponder.errors import BackendError, ConfigError, PonderError
from ponder.params import SamplingParams
from ponder.types import GenRequest, Message


def request(max_tokens=8, n=2, text="What is 2 + 2?", **kw):
    return GenRequest(messages=(Message("user", text),), n=n, seed=1,
                      params=SamplingParams(temperature=0.7, max_tokens=max_tokens), **kw)


def check_contract(gen, *, too_long: GenRequest, slow: GenRequest | None = None, slack_s: float = 2.0,
                   n: int = 2) -> None:
    """Every case on `gen`. `too_long`: a request this backend must refuse on its own (a prompt over its
    context, a max_tokens over a server's limit). `slow`: a request that runs for several seconds, to
    show a deadline stops it mid-way (omit where the backend is too fast to tell)."""
    check_isolation(gen, too_long, n)
    check_stopped(gen, n)
    if slow is not None:
        check_deadline(gen, slow, slack_s)


def check_isolation(gen, too_long: GenRequest, n: int = 2) -> None:
    """One bad request among good ones fails alone."""
    good, bad, other = asyncio.run(gen.generate([request(n=n), too_long, request(n=1)]))
    assert good.error is None and len(good.outputs) == n and good.outputs[0].completion_tokens
    assert other.error is None and len(other.outputs) == 1
    assert isinstance(bad.error, (ConfigError, PonderError)) and bad.outputs == (), bad


def check_stopped(gen, n: int = 2) -> None:
    """Cancelled by its caller before it ran, or past its deadline: stopped, the others unaffected."""
    cancelled = threading.Event()
    cancelled.set()
    late = time.monotonic() - 1
    stopped, expired, fine = asyncio.run(gen.generate([request(n=n, cancel=cancelled),
                                                      request(n=n, deadline=late), request(n=1)]))
    for resp in (stopped, expired):
        assert resp.error is None and resp.outputs and all(o.finish_reason == "deadline" for o in resp.outputs), resp
        assert sum(o.completion_tokens or 0 for o in resp.outputs) <= len(resp.outputs)  # a step at most
    assert fine.error is None and fine.outputs[0].finish_reason in ("stop", "length")


def check_deadline(gen, slow: GenRequest, slack_s: float = 2.0) -> None:
    """A deadline during decoding stops the request there: its samples end "deadline" (or, where a
    server's answer is all or nothing, the request fails as a timeout), promptly."""
    t0 = time.monotonic()
    [resp] = asyncio.run(gen.generate([dataclasses.replace(slow, deadline=t0 + 0.5)]))
    took = time.monotonic() - t0
    assert took < 0.5 + slack_s, took
    if resp.error is not None:
        assert isinstance(resp.error, BackendError) and resp.error.timeout, resp.error
    else:
        assert any(o.finish_reason == "deadline" for o in resp.outputs), resp
