"""OpenAI's Responses API (`POST /v1/responses`), for clients that speak it (the Agents SDK,
Codex-style tools, `client.responses.create` and `.stream`).

The request picks its compute like a chat request (`reasoning.effort`, a model-name prefix, or the
`ponder` object) and runs the same engine. The response carries a `reasoning` item with a reasoning
model's thinking (when the chosen sample has any) and a `message` item with the answer; `usage`
counts every token ponder generated, `output_tokens_details.reasoning_tokens` those the client does
not see. Streaming sends the Responses event types in order (created, in_progress, output items and
text deltas, completed); while the strategy works, SSE comment lines keep the connection alive and
say how many tokens it has generated (clients skip comments).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from ponder.server import errors, run
from ponder.server.schemas import ResponsesRequest
from ponder.server.service import Service
from ponder.strategies.spec import Cost
from ponder.types import Message, Problem, Result


def _usage(result: Result) -> dict[str, Any]:
    u = run.usage(result)
    out = {"input_tokens": u["prompt_tokens"], "output_tokens": u["completion_tokens"],
           "total_tokens": u["total_tokens"],
           "input_tokens_details": {"cached_tokens": (u.get("prompt_tokens_details") or {}).get("cached_tokens", 0)},
           "output_tokens_details": {"reasoning_tokens":
                                     (u.get("completion_tokens_details") or {}).get("reasoning_tokens", 0)}}
    return out


def _items(result: Result, rid: str) -> list[dict[str, Any]]:
    thinking, content = run.answer_parts(result)
    items: list[dict[str, Any]] = []
    if thinking is not None:
        items.append({"type": "reasoning", "id": f"rs_{rid}", "summary": [],
                      "content": [{"type": "reasoning_text", "text": thinking}]})
    items.append({"type": "message", "id": f"msg_{rid}", "status": "completed", "role": "assistant",
                  "content": [{"type": "output_text", "text": content, "annotations": []}]})
    return items


def _response(req: ResponsesRequest, rid: str, created: float, *, status: str, output: list[dict[str, Any]],
              usage: dict[str, Any] | None = None, ponder: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"resp_{rid}", "object": "response", "created_at": created, "status": status, "model": req.model,
        "output": output, "usage": usage, "error": None, "incomplete_details": None,
        "instructions": req.instructions, "max_output_tokens": req.max_output_tokens,
        "temperature": req.temperature, "top_p": req.top_p, "parallel_tool_calls": False, "tool_choice": "auto",
        "tools": [], "text": {"format": {"type": "text"}}, "truncation": "disabled", "metadata": {},
        "reasoning": {"effort": req.effort(), "summary": None}}
    if ponder is not None:
        body["ponder"] = ponder
    return body


def router(svc: Service) -> APIRouter:
    account = svc.account
    r = APIRouter()

    @r.post("/v1/responses")
    async def create(req: ResponsesRequest, request: Request):
        msgs = tuple(Message(role, text) for role, text in req.messages())  # type: ignore[arg-type]
        if not msgs:
            raise errors.APIError(400, "input: must not be empty", param="input", code="invalid_parameter")
        problem = Problem(messages=msgs, id="req")
        engine, trace, bound = svc.engine(req, raw=False)
        rid = uuid.uuid4().hex[:24]
        created = time.time()
        if req.stream:
            return StreamingResponse(_stream(req, engine, problem, rid, created, trace, bound, svc, account),
                                     media_type="text/event-stream",
                                     headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
        result = await run.outcome(engine, problem, timeout_s=svc.config.request_timeout_s,
                                   grace_s=svc.config.deadline_grace_s, gone=request.is_disconnected,
                                   stop_by=svc.stop_by)
        if result is None:
            return Response(status_code=499)  # the client went away: the run was stopped
        account(result)
        return _response(req, rid, created, status="completed", output=_items(result, rid), usage=_usage(result),
                         ponder=run.ponder_info(result, trace, bound))

    return r


async def _stream(req: ResponsesRequest, engine: Any, problem: Problem, rid: str, created: float, trace: bool,
                  bound: Cost, svc: Service, account: Callable[[Result], None]) -> AsyncIterator[str]:
    seq = 0

    def event(kind: str, **data: Any) -> str:
        nonlocal seq
        seq += 1
        body = json.dumps({"type": kind, "sequence_number": seq, **data}, ensure_ascii=False)
        return f"event: {kind}\ndata: {body}\n\n"

    yield event("response.created", response=_response(req, rid, created, status="in_progress", output=[]))
    yield event("response.in_progress", response=_response(req, rid, created, status="in_progress", output=[]))
    async for up in run.updates(engine, problem, timeout_s=svc.config.request_timeout_s,
                                grace_s=svc.config.deadline_grace_s, live=False, stop_by=svc.stop_by):
        if up.error is not None:
            yield event("error", code=up.error.code, message=up.error.message, param=up.error.param)
            failed = _response(req, rid, created, status="failed", output=[])
            failed["error"] = {"code": up.error.code, "message": up.error.message}
            yield event("response.failed", response=failed)
            return
        if up.result is None:
            yield f": ponder generated_tokens={up.tokens}\n\n"
            continue
        result = up.result
        account(result)
        items = _items(result, rid)
        for index, item in enumerate(items):
            if item["type"] == "reasoning":
                text = item["content"][0]["text"]
                yield event("response.output_item.added", output_index=index, item={**item, "content": []})
                yield event("response.reasoning_text.delta", item_id=item["id"], output_index=index, content_index=0,
                            delta=text)
                yield event("response.reasoning_text.done", item_id=item["id"], output_index=index, content_index=0,
                            text=text)
                yield event("response.output_item.done", output_index=index, item=item)
                continue
            text = item["content"][0]["text"]
            empty = {"type": "output_text", "text": "", "annotations": []}
            yield event("response.output_item.added", output_index=index,
                        item={**item, "status": "in_progress", "content": []})
            yield event("response.content_part.added", item_id=item["id"], output_index=index, content_index=0,
                        part=empty)
            yield event("response.output_text.delta", item_id=item["id"], output_index=index, content_index=0,
                        delta=text, logprobs=[])
            yield event("response.output_text.done", item_id=item["id"], output_index=index, content_index=0,
                        text=text, logprobs=[])
            yield event("response.content_part.done", item_id=item["id"], output_index=index, content_index=0,
                        part=item["content"][0])
            yield event("response.output_item.done", output_index=index, item=item)
        yield event("response.completed", response=_response(req, rid, created, status="completed", output=items,
                                                             usage=_usage(result),
                                                             ponder=run.ponder_info(result, trace, bound)))
