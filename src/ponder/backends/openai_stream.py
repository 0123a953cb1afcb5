"""DeepConf online over HTTP: stream each sample with logprobs and close the stream as soon as its
running confidence falls below the threshold (the server stops generating when the client goes).

Each of the request's n samples is its own stream (seed + i), so one can be cut without touching
the others. Tokens received before the cut count in usage; the prompt's token count comes from a
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

from ponder.backends.http import RetryPolicy, check_status, with_retries
from ponder.backends.openai_wire import choice_logprobs, finish_reason
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


async def _one_stream(target: StreamTarget, path: str, body: dict[str, Any], cs: ConfidenceStop,
                      keep_logprobs: bool, deadline: float | None,
                      events: list[dict[str, Any]]) -> tuple[GenOutput, int | None]:
    chat = path == "/chat/completions"

    async def attempt(timeout: float) -> tuple[GenOutput, int | None]:
        text: list[str] = []
        lps: list[Any] = []
        conf: list[float] = []
        finish: FinishReason = "length"
        prompt_tokens = None
        async with target.client.stream("POST", target.base_url + path, json=body, timeout=timeout) as resp:
            if resp.status_code >= 400:
                await resp.aread()
                check_status(resp, path)
            try:
                async for sse in EventSource(resp).aiter_sse():
                    if sse.data == "[DONE]" or not sse.data:
                        continue
                    data = sse.json()
                    if data.get("usage"):
                        prompt_tokens = data["usage"].get("prompt_tokens")
                    for ch in data.get("choices") or []:
                        piece = (ch.get("delta") or {}).get("content") if chat else ch.get("text")
                        text.append(piece or "")
                        new = choice_logprobs(ch, chat) or ()
                        lps.extend(new)
                        conf.extend(token_confidence(t, cs.top_k) for t in new)
                        if ch.get("finish_reason"):
                            finish = finish_reason(ch["finish_reason"])
                    if cs.reached(conf):
                        finish = "cutoff"
                        break  # leaving the block closes the stream: the server stops this sample
            except (httpx.TimeoutException, httpx.TransportError) as e:
                if not text:
                    raise  # nothing read yet: the retry loop may try again
                raise RetryableBackendError(f"{path} stream broke after {len(lps)} tokens: "
                                            f"{type(e).__name__}: {e}") from e
        out = GenOutput(text="".join(text), finish_reason=finish, completion_tokens=len(lps),
                        logprobs=tuple(lps) if keep_logprobs else None)
        return out, prompt_tokens

    return await with_retries(attempt, label=path, policy=target.policy, events=events, deadline=deadline,
                              sem=target.sem)


async def stream_with_confidence_stop(target: StreamTarget, calls: Sequence[tuple[str, dict[str, Any]]],
                                      cs: ConfidenceStop, *, keep_logprobs: bool,
                                      deadline: float | None = None,
                                      events: list[dict[str, Any]] | None = None) -> GenResponse:
    """One stream per (path, body) in `calls` (one per sample), each cut when `cs` is reached.
    `events` (a fresh list if not given) collects retries and failures, also when this raises."""
    events = [] if events is None else events
    t0 = time.perf_counter()
    jobs = []
    for path, body in calls:
        body = {**body, "stream": True, "stream_options": {"include_usage": True}}
        if path == "/chat/completions":
            body.update(logprobs=True, top_logprobs=max(cs.top_k, body.get("top_logprobs") or 0))
        else:
            body["logprobs"] = max(cs.top_k, body.get("logprobs") or 0)
        jobs.append(_one_stream(target, path, body, cs, keep_logprobs, deadline, events))
    done = await asyncio.gather(*jobs)
    outs = [o for o, _ in done]
    prompts = [p for _, p in done if p is not None]
    cut = sum(o.finish_reason == "cutoff" for o in outs)
    if cut:
        events.append({"event": "confidence_cutoff", "cut": cut, "threshold": cs.threshold})
    usage = Usage(prompt_tokens=prompts[0] * len(calls) if prompts else None,
                  completion_tokens=sum(o.completion_tokens or 0 for o in outs), calls=len(calls),
                  wall_s=time.perf_counter() - t0, flops_estimate=None)
    return GenResponse(outputs=tuple(outs), usage=usage, events=tuple(events))
