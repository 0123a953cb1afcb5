"""DeepConf online over HTTP: stream each sample with logprobs and close the stream as soon as its
running confidence falls below the threshold (the server stops generating when the client goes).

Each of the request's n samples is its own stream (seed + i), so one can be cut without touching
the others. Tokens received before the cut count in usage; the prompt's token count comes from a
stream that finished (servers report usage only at the end), and is unknown (None) if all were cut.
Connection failures before the first token are retried like any call; a stream that breaks midway
fails the request. Server-sent events are parsed by httpx-sse (multi-line data, comments, CRLF).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import httpx
from httpx_sse import EventSource

from ponder.errors import FatalBackendError, RetryableBackendError
from ponder.types import GenOutput, GenRequest, GenResponse, token_confidence
from ponder.usage import Usage

if TYPE_CHECKING:
    from ponder.backends.openai_http import OpenAIGenerator


async def _one_stream(gen: OpenAIGenerator, path: str, body: dict[str, Any], req: GenRequest,
                      events: list[dict[str, Any]]) -> tuple[GenOutput, int | None]:
    from ponder.backends.openai_http import _chat_logprobs, _completion_logprobs, _finish

    cs = req.confidence_stop
    assert cs is not None
    chat = path == "/chat/completions"
    client = gen._http()
    attempt = 0
    while True:
        text, lps, conf = [], [], []
        finish, prompt_tokens = "length", None
        try:
            async with client.stream("POST", gen.base_url + path, json=body, timeout=gen.timeout) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    err = f"HTTP {resp.status_code}: {resp.text[:300]}"
                    if resp.status_code in (429, 500, 502, 503, 504):
                        raise RetryableBackendError(f"{path}: {err}", status=resp.status_code)
                    raise FatalBackendError(f"{path}: {err}", status=resp.status_code)
                async for sse in EventSource(resp).aiter_sse():
                    if sse.data == "[DONE]" or not sse.data:
                        continue
                    data = sse.json()
                    if data.get("usage"):
                        prompt_tokens = data["usage"].get("prompt_tokens")
                    for ch in data.get("choices") or []:
                        piece = (ch.get("delta") or {}).get("content") if chat else ch.get("text")
                        text.append(piece or "")
                        new = (_chat_logprobs(ch.get("logprobs")) if chat
                               else _completion_logprobs(ch.get("logprobs"))) or ()
                        lps.extend(new)
                        conf.extend(token_confidence(t, cs.top_k) for t in new)
                        if ch.get("finish_reason"):
                            finish = _finish(ch["finish_reason"])
                    if cs.reached(conf):
                        finish = "cutoff"
                        break  # leaving the block closes the stream: the server stops this sample
        except (httpx.TimeoutException, httpx.TransportError, RetryableBackendError) as e:
            if text or attempt >= gen.policy.max_retries:
                raise RetryableBackendError(f"{path} stream failed: {e}") from e
            attempt += 1
            events.append({"event": "retry", "path": path, "attempt": attempt, "error": str(e)[:300]})
            await asyncio.sleep(min(gen.policy.max_backoff_s, gen.policy.backoff_s * 2 ** attempt))
            continue
        keep = lps if req.params.logprobs is not None else None
        return GenOutput(text="".join(text), finish_reason=finish, completion_tokens=len(lps),  # type: ignore[arg-type]
                         logprobs=tuple(keep) if keep is not None else None), prompt_tokens


async def generate_with_confidence_stop(gen: OpenAIGenerator, req: GenRequest, model: str) -> GenResponse:
    cs = req.confidence_stop
    assert cs is not None
    events: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    jobs = []
    for i in range(req.n):
        path, body = gen._body(req, model, 1, None if req.seed is None else req.seed + i)
        body.update(stream=True, stream_options={"include_usage": True})
        if path == "/chat/completions":
            body.update(logprobs=True, top_logprobs=max(cs.top_k, body.get("top_logprobs") or 0))
        else:
            body["logprobs"] = max(cs.top_k, body.get("logprobs") or 0)
        jobs.append(_one_stream(gen, path, body, req, events))
    done = await asyncio.gather(*jobs)
    outs = [o for o, _ in done]
    prompts = [p for _, p in done if p is not None]
    cut = sum(o.finish_reason == "cutoff" for o in outs)
    if cut:
        events.append({"event": "confidence_cutoff", "cut": cut, "threshold": cs.threshold})
    usage = Usage(prompt_tokens=prompts[0] * req.n if prompts else None,
                  completion_tokens=sum(o.completion_tokens or 0 for o in outs), calls=req.n,
                  wall_s=time.perf_counter() - t0, flops_estimate=None)
    return GenResponse(outputs=tuple(outs), usage=usage, events=tuple(events))
