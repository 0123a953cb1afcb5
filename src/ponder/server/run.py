"""One request's run as its endpoints report it: progress and live events while it runs, then the
result (or the error), and the OpenAI-shaped pieces every endpoint shares (usage with reasoning and
cached tokens, the answer split from a reasoning model's thinking, ponder's own summary).

`updates` drives the engine and yields what a streaming endpoint sends, whatever its wire format
(chat and completion chunks, or the Responses API's events); it enforces the server's time limit and
stops the work when the client goes away.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ponder.answers import split_thinking
from ponder.engine import Engine
from ponder.server import errors
from ponder.strategies.spec import Cost
from ponder.types import Problem, Result


@dataclass
class Update:
    """What a stream reports next: `tokens` generated so far and new live `events`, or at the end
    the `result` or the `error`."""

    tokens: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    result: Result | None = None
    error: errors.APIError | None = None


MAX_FEED = 4096
"""Live events held for one stream at most: a client that stops reading makes the server drop the rest
of its feed (and say so), never buffer without bound."""


async def updates(engine: Engine, problem: Problem, *, timeout_s: float | None, grace_s: float, live: bool,
                  gone: Callable[[], Awaitable[bool]] | None = None,
                  stop_by: Callable[[], float | None] | None = None) -> AsyncIterator[Update]:
    """Run the engine, yielding an Update at least every 0.25 s (more often while live events flow).
    `gone`: whether the client went away (the run is cancelled: its backends stop at their next step);
    `stop_by`: when the server must be done (it is shutting down), or None."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    state = {"tokens": 0, "dropped": 0}
    feed: collections.deque[dict[str, Any]] = collections.deque()

    def on_loop(fn: Callable[[], None]) -> None:
        try:
            here = asyncio.get_running_loop() is loop
        except RuntimeError:
            here = False
        if here:
            fn()
        else:
            loop.call_soon_threadsafe(fn)

    def add_tokens(k: int) -> None:
        state["tokens"] += k
        wake.set()

    def add_event(event: dict[str, Any]) -> None:
        if len(feed) >= MAX_FEED or state["dropped"]:
            state["dropped"] += 1  # the reader fell behind: the rest of the feed is dropped
        else:
            feed.append(event)
        wake.set()

    task = asyncio.create_task(engine.asolve(problem, lambda k: on_loop(lambda: add_tokens(k)),
                                             listener=(lambda e: on_loop(lambda: add_event(e))) if live else None))
    told_dropped = False

    def take() -> list[dict[str, Any]]:
        nonlocal told_dropped
        out = list(feed)
        feed.clear()
        if state["dropped"] and not told_dropped:
            told_dropped = True
            out.append({"event": "feed_truncated", "dropped": state["dropped"],
                        "detail": "the client read too slowly; the rest of the live feed is dropped"})
        return out

    try:
        last = 0.0
        limit = None if timeout_s is None else time.monotonic() + timeout_s + grace_s
        while not task.done():
            now = time.monotonic()
            end = stop_by() if stop_by is not None else None
            if (limit is not None and now > limit) or (end is not None and now > end):
                # the budget's deadline stops decoding; this ends what does not stop (a hung upstream),
                # and what a shutting-down server cannot wait for
                task.cancel()
                err = (errors.APIError(503, "the server is shutting down", type="server_error", code="server_shutdown")
                       if end is not None and now > end else
                       errors.APIError(504, f"the request ran past the server's limit of {timeout_s:g} s",
                                       type="timeout", code="request_timeout"))
                yield Update(state["tokens"], error=err)
                return
            if gone is not None and await gone():
                task.cancel()
                return
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=0.25)
            now = time.monotonic()
            if (feed and now - last >= 0.05) or now - last >= 0.25:
                last = now
                yield Update(state["tokens"], take())
    finally:
        # the client went away (the generator is closed or cancelled at a yield): stop the work it
        # asked for, down to the backend's decode loop (cancel tokens), instead of computing on
        if not task.done():
            task.cancel()
    try:
        result = task.result()
    except Exception as e:  # noqa: BLE001 - reported in the stream, OpenAI style
        yield Update(state["tokens"], error=errors.to_api_error(e))
        return
    await asyncio.sleep(0)  # callbacks a decode thread queued before the run ended
    yield Update(state["tokens"], take(), result=result)


async def outcome(engine: Engine, problem: Problem, *, timeout_s: float | None, grace_s: float,
                  gone: Callable[[], Awaitable[bool]] | None = None,
                  stop_by: Callable[[], float | None] | None = None) -> Result | None:
    """The run's result for a non-streamed answer (None: the client went away and the run was
    stopped); a timeout or an error raises its APIError."""
    async for up in updates(engine, problem, timeout_s=timeout_s, grace_s=grace_s, live=False, gone=gone,
                            stop_by=stop_by):
        if up.error is not None:
            raise up.error
        if up.result is not None:
            return up.result
    return None


def text_of(result: Result) -> str:
    """The chosen sample's whole text (thinking included)."""
    if result.text is not None:
        return result.text
    return result.candidates[0].text if result.candidates else ""


def answer_parts(result: Result) -> tuple[str | None, str]:
    """(thinking, content) of the chosen sample: a reasoning model's `<think>` block goes to
    `reasoning_content`, the rest is the answer a client reads."""
    return split_thinking(text_of(result))


def _visible_tokens(result: Result) -> int:
    """The returned text's tokens: the chosen sample's, less its thinking (by length where the split
    falls inside the sample)."""
    if result.chosen is None or not result.candidates:
        return 0
    c = result.candidates[result.chosen]
    toks = c.tokens or 0
    thinking, content = split_thinking(c.text)
    if thinking is None or not c.text:
        return toks
    return round(toks * len(content) / len(c.text))


def usage(result: Result) -> dict[str, Any]:
    """OpenAI's usage: completion tokens count every sample, step and verifier call ponder made, and
    `completion_tokens_details.reasoning_tokens` says how many of them the client does not see;
    `prompt_tokens_details.cached_tokens` where the backend says how much of the prompt it reused."""
    u = result.usage
    out: dict[str, Any] = {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                           "total_tokens": u.total_tokens}
    if u.completion_tokens is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": max(u.completion_tokens - _visible_tokens(result), 0)}
    evals = [e for e in result.trace if e.get("event") == "prompt_eval"]
    if evals:
        out["prompt_tokens_details"] = {"cached_tokens": sum(max(e["tokens"] - e["evaluated"], 0) for e in evals)}
    return out


def ponder_info(result: Result, trace: bool, bound: Cost | None = None) -> dict[str, Any]:
    votes = next((e for e in result.trace if e["event"] == "vote"), None)
    info: dict[str, Any] = {"answer": result.answer, "strategy": result.strategy, "samples": len(result.candidates),
                            "calls": result.usage.calls, "wall_s": result.usage.wall_s}
    if bound is not None:  # what the request was admitted at: its work never exceeds it
        info["bound"] = {"samples": bound.samples, "tokens": bound.tokens}
    if votes:
        info["votes"] = votes["distribution"]
        info["tie"] = bool(votes.get("tie"))  # the answer won a tie-break, not the vote
    if trace:
        info["trace"] = list(result.trace)
        info["candidates"] = [c.to_dict() for c in result.candidates]
    return info
