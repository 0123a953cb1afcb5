"""Generator over any OpenAI-compatible HTTP server (vLLM serve, SGLang, llama.cpp server, Ollama,
hosted APIs), with httpx.

- Chat messages go to /v1/chat/completions, raw prompts to /v1/completions.
- `n` is sent as is; when a server returns fewer choices (Ollama and llama.cpp servers ignore `n`),
  the missing samples are drawn with separate calls (seeds seed+i), concurrently (a server with
  parallel slots decodes them together), and the fallback is recorded in the response events. The
  generator remembers it: later requests go straight to one call per sample instead of asking for n
  and getting one back every time.
- Sampling is what ponder's params say, not the server's defaults: llama.cpp servers otherwise apply
  top_k 40, min_p 0.05 and a repeat penalty of 1.1 (which penalises the digits a calculation repeats),
  so `top_k`, `min_p` and `repeat_penalty` are sent explicitly (top_k 0 = off, in llama.cpp and
  vLLM). A server that rejects fields it does not know (OpenAI's hosted API answers 400) is asked
  again without them, once, and remembered.
- Timeouts, connection errors, 429 and 5xx are retried with exponential backoff (honouring
  Retry-After) up to `max_retries` times; every retry is recorded. Other 4xx fail at once.
- Usage is what the server reports; a server that reports nothing gives None, never 0.
- A request with a `confidence_stop` is streamed sample by sample and cut early
  (`ponder.backends.openai_stream`).
The transport is injectable (`httpx.MockTransport` in tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from ponder.answers import THINK_CLOSE, THINK_OPEN
from ponder.backends.base import Capabilities, ProgressFn, per_request, stopped, stopped_response
from ponder.backends.http import RETRY_STATUS, RetryPolicy, post_json
from ponder.backends.openai_wire import choice_logprobs, finish_reason, reasoning_of
from ponder.errors import ConfigError, FatalBackendError, RetryableBackendError
from ponder.types import GenOutput, GenRequest, GenResponse
from ponder.usage import Usage


def _extras(p: Any) -> dict[str, Any]:
    """Sampling fields beyond OpenAI's own, so llama.cpp / vLLM servers sample as ponder's params say."""
    return {"top_k": max(p.top_k or 0, 0), "min_p": p.min_p or 0.0, "repeat_penalty": 1.0}


def _rejects_extras(e: FatalBackendError) -> bool:
    text = str(e).lower()
    return e.status in (400, 422) and any(k in text for k in ("top_k", "min_p", "repeat_penalty", "unrecognized"))


async def _close_at_loop_shutdown(client: httpx.AsyncClient) -> AsyncIterator[None]:
    """Parks until its event loop finalises it (`loop.shutdown_asyncgens()`), then closes `client`."""
    try:
        yield
    finally:
        await client.aclose()


class OpenAIGenerator:
    """base_url: the server root or its /v1 URL. model: the model name to send (None: the first
    model the server lists). logprobs / top_logprobs: what this server supports (declared, since
    servers cannot be asked)."""

    def __init__(self, base_url: str, *, model: str | None = None, api_key: str | None = None,
                 timeout: float = 600.0, max_retries: int = 3, backoff_s: float = 0.5,
                 max_backoff_s: float = 20.0, max_concurrency: int = 16, logprobs: bool = True,
                 top_logprobs: int = 20, native_n: bool = True, max_context: int | None = None,
                 continue_final_message: bool = False,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        if not base_url or not str(base_url).startswith(("http://", "https://")):
            raise ConfigError("base_url", base_url, "must be an http(s) URL")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError("max_retries", max_retries, "must be an integer >= 0")
        url = httpx.URL(str(base_url).rstrip("/"))
        auth = (url.username, url.password) if url.userinfo else None
        root = str(url.copy_with(username=None, password=None)) if auth else str(url)
        # credentials in the URL go to the client's auth and never into names, errors or traces
        self.base_url = root if root.endswith("/v1") else root + "/v1"
        self.model = model
        self.timeout = timeout
        self.policy = RetryPolicy(max_retries=max_retries, backoff_s=backoff_s, max_backoff_s=max_backoff_s,
                                  timeout=timeout)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client_args: dict[str, Any] = {"headers": headers, "transport": transport, "auth": auth}
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closer: Any = None
        self._sem_size = max_concurrency
        self._sem: asyncio.Semaphore | None = None
        self.continue_final_message = continue_final_message
        self._caps = Capabilities(logprobs=logprobs, top_logprobs=top_logprobs if logprobs else 0,
                                  prefix_reuse=True, native_n=native_n, max_context=max_context,
                                  chat=True, continuation=continue_final_message,
                                  confidence_stop=logprobs, answer_stop=True)
        self.n_ignored = not native_n
        """True once the server answered a request for n samples with fewer (or when declared so)."""
        self.sampling_extras = True
        """Send top_k / min_p / repeat_penalty; False once the server rejected them."""

    @property
    def name(self) -> str:
        return f"openai:{self.model or '?'}@{self.base_url}"

    @property
    def capabilities(self) -> Capabilities:
        return self._caps

    async def _http(self) -> httpx.AsyncClient:
        """The HTTP client of the running event loop. Connections belong to one loop, so each loop
        gets its own client, and the client is closed in its loop when that loop shuts down: an async
        generator started here is finalised by the loop's `shutdown_asyncgens()` (which `asyncio.run`
        and uvicorn call), and it closes the client then. So `asyncio.run(gen.generate(...))` called
        again and again leaves no connection open, without the caller having to `aclose()`."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            client = httpx.AsyncClient(timeout=self.timeout, **self._client_args)
            self._closer = _close_at_loop_shutdown(client)
            await anext(self._closer)
            self._client, self._sem, self._loop = client, asyncio.Semaphore(self._sem_size), loop
        return self._client

    async def aclose(self) -> None:
        """Close the current loop's client now (it is also closed when its loop shuts down)."""
        if self._closer is not None and self._loop is asyncio.get_running_loop():
            closer, self._client, self._loop, self._closer = self._closer, None, None, None
            await closer.aclose()

    async def _post(self, path: str, body: dict[str, Any], deadline: float | None,
                    events: list[dict[str, Any]]) -> dict[str, Any]:
        client = await self._http()
        return await post_json(client, self.base_url + path, body, label=path, policy=self.policy, events=events,
                               deadline=deadline, sem=self._sem)

    async def _model_name(self, events: list[dict[str, Any]]) -> str:
        if self.model is None:
            client = await self._http()
            try:
                r = await client.get(self.base_url + "/models")
                r.raise_for_status()
                self.model = r.json()["data"][0]["id"]
            except (httpx.TransportError, httpx.TimeoutException) as e:  # the server is down or dropped us:
                # retryable, so a fleet fails over to another endpoint and a later call asks again
                raise RetryableBackendError(f"{self.base_url}/models: {type(e).__name__}: {e}") from e
            except httpx.HTTPStatusError as e:
                status = e.response.status_code
                cls = RetryableBackendError if status in RETRY_STATUS else FatalBackendError
                raise cls(f"could not list the server's models (HTTP {status}); pass model=", status=status) from e
            except (httpx.HTTPError, KeyError, IndexError, ValueError) as e:
                raise FatalBackendError(f"could not list the server's models; pass model=: {e}") from e
        return self.model

    def _body(self, req: GenRequest, model: str, n: int, seed: int | None) -> tuple[str, dict[str, Any]]:
        p = req.params
        body: dict[str, Any] = {"model": model, "n": n, "max_tokens": p.max_tokens,
                                "temperature": p.temperature, "top_p": p.top_p}
        if self.sampling_extras:
            body.update(_extras(p))
        if p.stop:
            body["stop"] = list(p.stop)
        if seed is not None:
            body["seed"] = seed
        if req.messages is not None:
            body["messages"] = [{"role": m.role, "content": m.content} for m in req.messages]
            if req.prefix:
                if not self.continue_final_message:
                    raise ConfigError("prefix", req.prefix[:40], "this server cannot continue an assistant "
                                      "prefix; pass continue_final_message=True for vLLM or SGLang")
                # vLLM / SGLang: continue the last (assistant) message instead of starting a new one
                body["messages"].append({"role": "assistant", "content": req.prefix})
                body["continue_final_message"] = True
                body["add_generation_prompt"] = False
            if p.logprobs is not None:
                body["logprobs"] = True
                body["top_logprobs"] = p.logprobs
            return "/chat/completions", body
        body["prompt"] = (req.prompt or "") + req.prefix
        if p.logprobs is not None:
            body["logprobs"] = max(p.logprobs, 1)  # legacy API: 0 would mean "off" on some servers
        return "/completions", body

    def _outputs(self, data: dict[str, Any], chat: bool) -> list[GenOutput]:
        outs = []
        for ch in sorted(data.get("choices") or [], key=lambda c: c.get("index", 0)):
            text = (((ch.get("message") or {}).get("content")) if chat else ch.get("text")) or ""
            thinking = reasoning_of(ch.get("message") or {}) if chat else None
            if thinking:  # an upstream that parses thinking out (vLLM's reasoning parsers, DeepSeek's API)
                text = f"{THINK_OPEN}{thinking}{THINK_CLOSE}{text}"
            lps = choice_logprobs(ch, chat)
            stop = ch.get("stop_reason")  # vLLM says which stop string ended the sample
            outs.append(GenOutput(text=text, finish_reason=finish_reason(ch.get("finish_reason")),
                                  completion_tokens=len(lps) if lps else None, logprobs=lps,
                                  stop_string=stop if isinstance(stop, str) else None))
        return outs

    @staticmethod
    def _usage(data: dict[str, Any], wall: float) -> Usage:
        u = data.get("usage") or {}
        return Usage(prompt_tokens=u.get("prompt_tokens"), completion_tokens=u.get("completion_tokens"),
                     calls=1, wall_s=wall, flops_estimate=None)

    async def _call(self, req: GenRequest, model: str, n: int, seed: int | None,
                    events: list[dict[str, Any]]) -> tuple[list[GenOutput], Usage]:
        t0 = time.perf_counter()
        path, body = self._body(req, model, n, seed)
        try:
            data = await self._post(path, body, req.deadline, events)
        except FatalBackendError as e:
            if not (self.sampling_extras and _rejects_extras(e)):
                raise
            self.sampling_extras = False  # a strict server (OpenAI's own): plain OpenAI fields from now on
            events.append({"event": "sampling_extras_rejected", "detail": str(e)[:200]})
            path, body = self._body(req, model, n, seed)
            data = await self._post(path, body, req.deadline, events)
        outs, usage = self._outputs(data, path == "/chat/completions"), self._usage(data, time.perf_counter() - t0)
        return _count_tokens(outs, usage.completion_tokens), usage

    async def _one(self, req: GenRequest) -> GenResponse:
        """The request, stopped when its caller sets its cancel event (the contract of backends/base.py:
        HTTP calls in flight are cancelled; what they had not returned is not waited for)."""
        if stopped(req):
            return stopped_response(req)
        if req.cancel is None:
            return await self._one_call(req)
        task = asyncio.ensure_future(self._one_call(req))
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=0.05)
                if req.cancel.is_set() and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    return stopped_response(req, events=({"event": "cancelled"},))
        except asyncio.CancelledError:
            task.cancel()
            raise
        return task.result()

    async def _one_call(self, req: GenRequest) -> GenResponse:
        events: list[dict[str, Any]] = []
        model = await self._model_name(events)
        if req.confidence_stop is not None or req.answer_stop:  # samples that end early: stream and close
            from ponder.backends.openai_stream import StreamTarget, stream_samples

            calls = [self._body(req, model, 1, None if req.seed is None else req.seed + i) for i in range(req.n)]
            target = StreamTarget(await self._http(), self.base_url, self.policy, self._sem)
            return await stream_samples(target, calls, req.confidence_stop, answer_stop=req.answer_stop,
                                        deadline=req.deadline, keep_logprobs=req.params.logprobs is not None)
        outs: list[GenOutput] = []
        usage = Usage()
        if not (self.n_ignored and req.n > 1):
            outs, usage = await self._call(req, model, req.n, req.seed, events)
        if len(outs) < req.n:
            if outs or not self.n_ignored:
                self.n_ignored = True
                events.append({"event": "n_fallback", "asked": req.n, "returned": len(outs),
                               "extra_calls": req.n - len(outs)})
            else:
                events.append({"event": "n_split", "samples": req.n,
                               "detail": "this server ignores n: one call per sample"})
            more = await asyncio.gather(*(self._call(req, model, 1, None if req.seed is None else req.seed + i, events)
                                          for i in range(len(outs), req.n)))
            for o, u in more:
                outs.extend(o[:1])
                usage = usage + u
        if req.params.logprobs is not None and any(o.logprobs is None for o in outs):
            events.append({"event": "logprobs_missing", "detail": "the server returned no logprobs"})
        return GenResponse(outputs=tuple(outs[: req.n]), usage=usage, events=tuple(events))

    async def generate(self, requests: Sequence[GenRequest], *,
                       progress: ProgressFn | None = None) -> list[GenResponse]:
        async def run(r: GenRequest) -> GenResponse:
            resp = await self._one(r)
            if progress is not None:
                progress(resp.usage.completion_tokens or 0)
            return resp

        return await per_request(run(r) for r in requests)


def _count_tokens(outs: list[GenOutput], total: int | None) -> list[GenOutput]:
    """Per-sample token counts where the server reported none (no logprobs asked for): the usage's
    completion tokens, exact for one sample, split in proportion to the texts' lengths for several
    (so rounds, budgets and logs add up to what the server counted)."""
    import dataclasses

    missing = [i for i, o in enumerate(outs) if o.completion_tokens is None]
    if not missing or total is None:
        return outs
    known = sum(o.completion_tokens or 0 for o in outs)
    left = max(total - known, 0)
    weights = [max(len(outs[i].text), 1) for i in missing]
    shares = [left * w // sum(weights) for w in weights]
    shares[-1] += left - sum(shares)
    out = list(outs)
    for i, k in zip(missing, shares):
        out[i] = dataclasses.replace(out[i], completion_tokens=k)
    return out
