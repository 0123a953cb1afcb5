"""The OpenAI-compatible endpoints (/v1/models, /v1/chat/completions, /v1/completions): a request
becomes an Engine run (`Service.engine`), answered in one response or streamed, with ponder's own
fields (`ponder.progress`, `ponder.events`, the final `ponder` summary) beside OpenAI's.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from ponder.engine import Engine
from ponder.errors import ConfigError
from ponder.server import errors
from ponder.server.schemas import ChatRequest, CompletionRequest, _Common
from ponder.server.service import Service
from ponder.strategies.spec import Cost
from ponder.types import Message, Problem, Result


def router(svc: Service) -> APIRouter:
    """The OpenAI routes of one server."""
    router = APIRouter()

    @router.get("/v1/models")
    async def models() -> dict[str, Any]:
        name = svc.config.model_name
        return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "ponder", "created": 0}]}

    def account(result: Result) -> None:
        u = result.usage
        svc.metrics.tokens.labels("prompt").inc(u.prompt_tokens or 0)
        svc.metrics.tokens.labels("completion").inc(u.completion_tokens or 0)

    async def respond(req: _Common, problem: Problem, *, chat: bool):
        engine, trace, bound = svc.engine(req, raw=not chat)
        live = bool(req.ponder and req.ponder.events)
        if live and not req.stream:
            raise errors.APIError(400, "ponder.events=true needs stream=true", param="ponder.events",
                                  code="invalid_parameter")
        if req.stream:
            return _stream(engine, problem, req.model, trace, chat=chat, account=account,
                           timeout_s=svc.config.request_timeout_s, live=live,
                           grace_s=svc.config.deadline_grace_s)
        limit = svc.config.request_timeout_s
        try:
            # the budget's deadline stops decoding; this catches what does not stop (a hung upstream)
            result = await asyncio.wait_for(engine.asolve(problem),
                                            None if limit is None else limit + svc.config.deadline_grace_s)
        except TimeoutError:
            raise errors.APIError(504, f"the request ran past the server's limit of {limit:g} s",
                                  type="timeout", code="request_timeout") from None
        account(result)
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop", "logprobs": None}
        if chat:
            choice["message"] = {"role": "assistant", "content": _content(result)}
        else:
            choice["text"] = _content(result)
        return {"id": f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion" if chat else "text_completion", "created": int(time.time()),
                "model": req.model, "usage": _usage(result), "ponder": _ponder_info(result, trace, bound),
                "choices": [choice]}

    @router.post("/v1/chat/completions")
    async def chat(req: ChatRequest):
        if not req.messages:
            raise errors.APIError(400, "messages: must not be empty", param="messages", code="invalid_parameter")
        msgs = tuple(Message(m.role, m.text()) for m in req.messages)  # type: ignore[arg-type]
        return await respond(req, Problem(messages=msgs, id="req"), chat=True)

    @router.post("/v1/completions")
    async def completions(req: CompletionRequest):
        if isinstance(req.prompt, list):
            if len(req.prompt) != 1:
                raise errors.APIError(400, "prompt: send one prompt per request", param="prompt",
                                      code="invalid_parameter")
            req.prompt = req.prompt[0]
        try:
            problem = Problem(prompt=req.prompt, id="req")
        except ConfigError as e:
            raise errors.APIError(400, str(e), param="prompt", code="invalid_parameter") from e
        return await respond(req, problem, chat=False)

    return router


def _content(result: Result) -> str:
    if result.text is not None:
        return result.text
    return result.candidates[0].text if result.candidates else ""


def _usage(result: Result) -> dict[str, Any]:
    u = result.usage
    return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
            "total_tokens": u.total_tokens}


def _ponder_info(result: Result, trace: bool, bound: Cost | None = None) -> dict[str, Any]:
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


def _stream(engine: Engine, problem: Problem, model: str, trace: bool, *, chat: bool,
            account: Callable[[Result], None], timeout_s: float | None = None, live: bool = False,
            grace_s: float = 5.0) -> StreamingResponse:
    cid = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    obj = "chat.completion.chunk" if chat else "text_completion"

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> str:
        choice: dict[str, Any] = {"index": 0, "finish_reason": finish, "logprobs": None}
        if chat:
            choice["delta"] = delta or {}
        else:
            choice["text"] = (delta or {}).get("content", "")
        body = {"id": cid, "object": obj, "created": created, "model": model, "choices": [choice], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    async def events() -> AsyncIterator[str]:
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
        feed: list[dict[str, Any]] = []

        def take(item: int | dict[str, Any]) -> int:
            if isinstance(item, dict):
                feed.append(item)
                return 0
            return item
        try:
            if chat:
                yield chunk({"role": "assistant", "content": ""})
            tokens, last = 0, 0.0
            limit = None if timeout_s is None else time.monotonic() + timeout_s + grace_s
            while not task.done():
                if limit is not None and time.monotonic() > limit:
                    # the budget's deadline stops decoding; this ends what does not stop (a hung upstream)
                    task.cancel()
                    err = errors.APIError(504, f"the request ran past the server's limit of {timeout_s:g} s",
                                          type="timeout", code="request_timeout")
                    yield f"data: {json.dumps(err.body())}\n\n"
                    yield "data: [DONE]\n\n"
                    return
                try:
                    tokens += take(await asyncio.wait_for(queue.get(), timeout=0.25))
                except TimeoutError:
                    pass
                while not queue.empty():
                    tokens += take(queue.get_nowait())
                now = time.monotonic()
                if feed and now - last >= 0.05:
                    last = now
                    yield chunk({}, ponder={"progress": {"generated_tokens": tokens}, "events": feed})
                    feed = []
                elif now - last >= 0.25:
                    last = now
                    yield chunk({}, ponder={"progress": {"generated_tokens": tokens}})
        finally:
            # the client went away (the generator is closed or cancelled at a yield): stop the work it
            # asked for, down to the backend's decode loop (cancel tokens), instead of computing on
            if not task.done():
                task.cancel()
        try:
            result = task.result()
        except Exception as e:  # headers are sent: report the error in the stream, OpenAI style
            err = errors.to_api_error(e)
            yield f"data: {json.dumps(err.body())}\n\n"
            yield "data: [DONE]\n\n"
            return
        await asyncio.sleep(0)  # callbacks a decode thread queued before the run ended
        while not queue.empty():
            take(queue.get_nowait())
        if feed:
            yield chunk({}, ponder={"events": feed})
        account(result)
        yield chunk({"content": _content(result)})
        yield chunk({}, "stop")
        final = {"id": cid, "object": obj, "created": created, "model": model, "choices": [],
                 "usage": _usage(result), "ponder": _ponder_info(result, trace)}
        yield f"data: {json.dumps(final, ensure_ascii=False)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
