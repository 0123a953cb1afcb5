"""One request's run as its endpoints report it: progress and live events while it runs, then the
result (or the error), and the OpenAI-shaped pieces every endpoint shares (usage with reasoning and
cached tokens, the answer split from a reasoning model's thinking, ponder's own summary).

`updates` drives the engine and yields what a streaming endpoint sends, whatever its wire format
(chat and completion chunks, or the Responses API's events); it enforces the server's time limit and
stops the work when the client goes away.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
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


async def updates(engine: Engine, problem: Problem, *, timeout_s: float | None, grace_s: float,
                  live: bool) -> AsyncIterator[Update]:
    """Run the engine, yielding an Update at least every 0.25 s (more often while live events flow)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[int | dict[str, Any]] = asyncio.Queue()

    def progress(k: int) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, k)

    def listen(event: dict[str, Any]) -> None:  # from the event loop or a backend's decode thread
        try:
            here = asyncio.get_running_loop() is loop
        except RuntimeError:
            here = False
        if here:
            queue.put_nowait(event)
        else:
            loop.call_soon_threadsafe(queue.put_nowait, event)

    task = asyncio.create_task(engine.asolve(problem, progress, listener=listen if live else None))
    tokens = 0
    feed: list[dict[str, Any]] = []

    def take(item: int | dict[str, Any]) -> None:
        nonlocal tokens
        if isinstance(item, dict):
            feed.append(item)
        else:
            tokens += item

    def drain() -> None:
        while not queue.empty():
            take(queue.get_nowait())

    try:
        last = 0.0
        limit = None if timeout_s is None else time.monotonic() + timeout_s + grace_s
        while not task.done():
            if limit is not None and time.monotonic() > limit:
                # the budget's deadline stops decoding; this ends what does not stop (a hung upstream)
                task.cancel()
                yield Update(tokens, error=errors.APIError(504, f"the request ran past the server's limit of "
                                                                f"{timeout_s:g} s", type="timeout",
                                                           code="request_timeout"))
                return
            try:
                take(await asyncio.wait_for(queue.get(), timeout=0.25))
            except TimeoutError:
                pass
            drain()
            now = time.monotonic()
            if (feed and now - last >= 0.05) or now - last >= 0.25:
                last = now
                yield Update(tokens, feed)
                feed = []
    finally:
        # the client went away (the generator is closed or cancelled at a yield): stop the work it
        # asked for, down to the backend's decode loop (cancel tokens), instead of computing on
        if not task.done():
            task.cancel()
    try:
        result = task.result()
    except Exception as e:  # noqa: BLE001 - reported in the stream, OpenAI style
        yield Update(tokens, error=errors.to_api_error(e))
        return
    await asyncio.sleep(0)  # callbacks a decode thread queued before the run ended
    drain()
    yield Update(tokens, feed, result=result)


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
