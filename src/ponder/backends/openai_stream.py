"""Samples that stop early over HTTP: stream each sample and close its stream as soon as it should
end (the server stops generating when the client goes): DeepConf online (its running confidence
falls below the threshold; logprobs are streamed for that) and answer stop (its boxed answer is
written: `auto`'s samples spend nothing after their answer, as on llama.cpp).

Each of the request's n samples is its own stream (seed + i), so one can be cut without touching
the others. A sample's tokens are its streamed logprobs where it has them, else the server's usage for
a stream that finished, else its streamed chunks (one token each on vLLM, SGLang and llama.cpp's
servers). Tokens received before the cut count in usage; the prompt's token count comes from a
stream that finished (servers report usage only at the end), and is unknown (None) if all were cut.
Streams go through the same retry loop as plain calls (`backends.http.with_retries`: backoff,
Retry-After, the deadline, the concurrency limit, the final error in the trace); a stream that breaks
after its first token fails the request rather than restarting a half-read sample. Server-sent events
are parsed by httpx-sse (multi-line data, comments, CRLF).

The caller (`OpenAIGenerator`) hands over what a stream needs (client, URL, bodies, retry policy,
limit); this module does not reach back into the generator.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import EventSource

from ponder.answers import THINK_CLOSE, THINK_OPEN, answer_written
from ponder.backends.http import RetryPolicy, check_status, with_retries
from ponder.backends.openai_wire import choice_logprobs, finish_reason, reasoning_of
from ponder.errors import RetryableBackendError
from ponder.types import ConfidenceStop, FinishReason, GenOutput, GenResponse, token_confidence
from ponder.usage import Usage


@dataclass(frozen=True, slots=True)
class StreamTarget:
    """Where and how to stream: the client, the API root URL, the retry policy and the concurrency
    limit (held for a stream's whole life)."""

    client: httpx.AsyncClient
    base_url: str
    policy: RetryPolicy
    sem: asyncio.Semaphore | None = None


async def _one_stream(target: StreamTarget, path: str, body: dict[str, Any], cs: ConfidenceStop | None,
                      answer_stop: bool, keep_logprobs: bool, deadline: float | None,
                      events: list[dict[str, Any]]) -> tuple[GenOutput, int | None]:
    chat = path == "/chat/completions"

    async def attempt(timeout: float) -> tuple[GenOutput, int | None]:
        text: list[str] = []
        lps: list[Any] = []
        conf: list[float] = []
        finish: FinishReason = "length"
        prompt_tokens = None
        chunks = 0
        ended = False
        reported: int | None = None
        thinking: list[str] = []
        async with target.client.stream("POST", target.base_url + path, json=body, timeout=timeout) as resp:
            if resp.status_code >= 400:
                await resp.aread()
                check_status(resp, path)
            try:
                async for sse in EventSource(resp).aiter_sse():
                    if sse.data == "[DONE]":
                        ended = True
                        continue
                    if not sse.data:
                        continue
                    data = sse.json()
                    if data.get("usage"):
                        prompt_tokens = data["usage"].get("prompt_tokens")
                        reported = data["usage"].get("completion_tokens")
                    for ch in data.get("choices") or []:
                        piece = (ch.get("delta") or {}).get("content") if chat else ch.get("text")
                        text.append(piece or "")
                        thought = reasoning_of(ch.get("delta") or {}) if chat else None
                        thinking.append(thought or "")
                        chunks += bool(piece) or bool(thought)
                        new = choice_logprobs(ch, chat) or ()
                        lps.extend(new)
                        if cs is not None:
                            conf.extend(token_confidence(t, cs.top_k) for t in new)
                        if ch.get("finish_reason"):
                            finish = finish_reason(ch["finish_reason"])
                            ended = True
                    if cs is not None and cs.reached(conf):
                        finish = "cutoff"
                        break  # leaving the block closes the stream: the server stops this sample
                    if answer_stop and "}" in (text[-1] if text else "") and answer_written("".join(text)):
                        finish = "stop"
                        break  # its answer is written: nothing after it is paid for
            except (httpx.TimeoutException, httpx.TransportError) as e:
                if not text:
                    raise  # nothing read yet: the retry loop may try again
                raise RetryableBackendError(f"{path} stream broke after {len(lps)} tokens: "
                                            f"{type(e).__name__}: {e}") from e
        if not ended and finish not in ("cutoff", "stop"):
            # the stream closed with neither a finish reason nor [DONE] (llama-cpp-python's server cuts
            # off a stream when another request arrives unless started with --interrupt_requests false)
            raise RetryableBackendError(f"{path}: the stream ended after {chunks} chunk(s) without a finish "
                                        "reason (the server cut it off)")
        tokens = len(lps) if lps else reported if reported is not None else chunks
        said = "".join(thinking)
        whole = f"{THINK_OPEN}{said}{THINK_CLOSE}{''.join(text)}" if said else "".join(text)
        out = GenOutput(text=whole, finish_reason=finish, completion_tokens=tokens,
                        logprobs=tuple(lps) if keep_logprobs else None)
        return out, prompt_tokens

    return await with_retries(attempt, label=path, policy=target.policy, events=events, deadline=deadline,
                              sem=target.sem)


async def stream_samples(target: StreamTarget, calls: Sequence[tuple[str, dict[str, Any]]],
                         cs: ConfidenceStop | None = None, *, answer_stop: bool = False, keep_logprobs: bool,
                         deadline: float | None = None, events: list[dict[str, Any]] | None = None) -> GenResponse:
    """One stream per (path, body) in `calls` (one per sample), each cut when `cs` is reached or, with
    `answer_stop`, once its answer is written. `events` (a fresh list if not given) collects retries
    and failures, also when this raises."""
    events = [] if events is None else events
    t0 = time.perf_counter()
    jobs = []
    for path, body in calls:
        body = {**body, "stream": True, "stream_options": {"include_usage": True}}
        if cs is not None and path == "/chat/completions":
            body.update(logprobs=True, top_logprobs=max(cs.top_k, body.get("top_logprobs") or 0))
        elif cs is not None:
            body["logprobs"] = max(cs.top_k, body.get("logprobs") or 0)
        jobs.append(_one_stream(target, path, body, cs, answer_stop, keep_logprobs, deadline, events))
    done = await asyncio.gather(*jobs)
    outs = [o for o, _ in done]
    prompts = [p for _, p in done if p is not None]
    cut = sum(o.finish_reason == "cutoff" for o in outs)
    if cut and cs is not None:
        events.append({"event": "confidence_cutoff", "cut": cut, "threshold": cs.threshold})
    usage = Usage(prompt_tokens=prompts[0] * len(calls) if prompts else None,
                  completion_tokens=sum(o.completion_tokens or 0 for o in outs), calls=len(calls),
                  wall_s=time.perf_counter() - t0, flops_estimate=None)
    return GenResponse(outputs=tuple(outs), usage=usage, events=tuple(events))
