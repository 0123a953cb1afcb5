"""The OpenAI-compatible endpoints (/v1/models, /v1/chat/completions, /v1/completions): a request
becomes an Engine run (`Service.engine`), answered in one response or streamed, with ponder's own
fields (`ponder.progress`, `ponder.events`, the final `ponder` summary) beside OpenAI's.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from ponder.engine import Engine
from ponder.errors import ConfigError
from ponder.server import errors, run
from ponder.server.schemas import ChatRequest, CompletionRequest, _Common
from ponder.server.service import Service
from ponder.types import Message, Problem, Result


def router(svc: Service) -> APIRouter:
    """The OpenAI routes of one server."""
    router = APIRouter()

    @router.get("/v1/models")
    async def models() -> dict[str, Any]:
        name = svc.config.model_name
        return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "ponder", "created": 0}]}

    account = svc.account

    async def respond(req: _Common, problem: Problem, request: Request, *, chat: bool):
        engine, trace, bound = svc.engine(req, raw=not chat)
        live = bool(req.ponder and req.ponder.events)
        if live and not req.stream:
            raise errors.APIError(400, "ponder.events=true needs stream=true", param="ponder.events",
                                  code="invalid_parameter")
        if req.stream:
            return _stream(engine, problem, req.model, trace, chat=chat, account=account,
                           timeout_s=svc.config.request_timeout_s, live=live,
                           grace_s=svc.config.deadline_grace_s, stop_by=svc.stop_by)
        # the budget's deadline stops decoding; the server's limit ends what does not stop (a hung
        # upstream); a client that leaves stops the run (its backends stop at their next step)
        result = await run.outcome(engine, problem, timeout_s=svc.config.request_timeout_s,
                                   grace_s=svc.config.deadline_grace_s, gone=request.is_disconnected,
                                   stop_by=svc.stop_by)
        if result is None:
            return Response(status_code=499)  # nobody is listening; the status is for the log
        account(result)
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop", "logprobs": None}
        if chat:
            thinking, content = run.answer_parts(result)
            choice["message"] = {"role": "assistant", "content": content}
            if thinking is not None:
                choice["message"]["reasoning_content"] = thinking
        else:
            choice["text"] = run.text_of(result)
        return {"id": f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion" if chat else "text_completion", "created": int(time.time()),
                "model": req.model, "usage": run.usage(result), "ponder": run.ponder_info(result, trace, bound),
                "choices": [choice]}

    @router.post("/v1/chat/completions")
    async def chat(req: ChatRequest, request: Request):
        if not req.messages:
            raise errors.APIError(400, "messages: must not be empty", param="messages", code="invalid_parameter")
        msgs = tuple(Message(m.role, m.text()) for m in req.messages)  # type: ignore[arg-type]
        return await respond(req, Problem(messages=msgs, id="req"), request, chat=True)

    @router.post("/v1/completions")
    async def completions(req: CompletionRequest, request: Request):
        if isinstance(req.prompt, list):
            if len(req.prompt) != 1:
                raise errors.APIError(400, "prompt: send one prompt per request", param="prompt",
                                      code="invalid_parameter")
            req.prompt = req.prompt[0]
        try:
            problem = Problem(prompt=req.prompt, id="req")
        except ConfigError as e:
            raise errors.APIError(400, str(e), param="prompt", code="invalid_parameter") from e
        return await respond(req, problem, request, chat=False)

    return router


def _stream(engine: Engine, problem: Problem, model: str, trace: bool, *, chat: bool,
            account: Callable[[Result], None], timeout_s: float | None = None, live: bool = False,
            grace_s: float = 5.0, stop_by: Callable[[], float | None] | None = None) -> StreamingResponse:
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
        if chat:
            yield chunk({"role": "assistant", "content": ""})
        async for up in run.updates(engine, problem, timeout_s=timeout_s, grace_s=grace_s, live=live,
                                    stop_by=stop_by):
            if up.error is not None:  # headers are sent: the error goes in the stream, OpenAI style
                yield f"data: {json.dumps(up.error.body())}\n\n"
                yield "data: [DONE]\n\n"
                return
            if up.result is None:
                info: dict[str, Any] = {"progress": {"generated_tokens": up.tokens}}
                yield chunk({}, ponder={**info, "events": up.events} if up.events else info)
                continue
            result = up.result
            if up.events:
                yield chunk({}, ponder={"events": up.events})
            account(result)
            thinking, content = run.answer_parts(result)
            if chat and thinking is not None:
                yield chunk({"reasoning_content": thinking})
            yield chunk({"content": content if chat else run.text_of(result)})
            yield chunk({}, "stop")
            final = {"id": cid, "object": obj, "created": created, "model": model, "choices": [],
                     "usage": run.usage(result), "ponder": run.ponder_info(result, trace)}
            yield f"data: {json.dumps(final, ensure_ascii=False)}\n\n"
            yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
