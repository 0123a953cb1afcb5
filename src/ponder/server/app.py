"""The FastAPI app: OpenAI-compatible endpoints where each request picks a strategy and budget.

`create_app(generator, config)` builds everything the app needs and keeps it on the app (no module
globals). Per request, an `Engine` is built from copies of the defaults merged with the request's
fields; nothing shared is ever written. The strategy comes from the body's `ponder` object, or from a
model-name prefix (`vote-8/MODEL`, `best-of-n-4/MODEL`, `greedy/MODEL`), or an optillm approach
(`re2-MODEL`, `optillm_approach`: `ponder.server.optillm`), or the server default.
`usage` is the real sum over every internal backend call. With `stream: true`, progress chunks arrive
while the strategy works (a `ponder.progress` field that standard clients ignore), then the chosen
answer's content, then a final chunk with usage.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from ponder.backends.base import Generator
from ponder.backends.batching import BatchingGenerator
from ponder.engine import Engine
from ponder.errors import ConfigError
from ponder.params import Budget, SamplingParams, check_number
from ponder.prompts import Prompter
from ponder.registry import (
    DEFAULT_VERIFIER,
    FILE_OPTIONS,
    MODEL_VERIFIERS,
    STRATEGIES,
    check_strategy_name,
    check_verifier_name,
    load_file_options,
    make_strategy,
    make_verifier,
)
from ponder.server import errors, optillm, ui
from ponder.server.body import BodyGuard
from ponder.server.metrics import Metrics
from ponder.server.schemas import ChatRequest, CompletionRequest, _Common
from ponder.types import Message, Problem, Result
from ponder.verifiers.base import Verifier

FILE_STRATEGIES = ("route",)
"""Strategies that only work with a file the operator names (route's table): offered on /ui only when
they are the server's default."""

_PREFIX = re.compile(r"^(?P<strategy>[a-z-]+?)(?:-(?P<n>\d+))?/(?P<model>.+)$")


_DEADLINE_GRACE_S = 5.0
"""How long past its deadline a request may take to wind down before it is cancelled."""

SAFE_VERIFIERS = ("none", "confidence", "confidence-mean", "confidence-tail", "judge", "llm-prm")
"""Verifiers any request may name: they use the served model itself and load nothing."""


@dataclass(frozen=True)
class ServerConfig:
    model_name: str = "ponder"
    """The model id clients send (and `/v1/models` lists)."""
    strategy: str = "vote"
    n: int = 4
    verifier: str | None = None
    params: SamplingParams = field(default_factory=lambda: SamplingParams(max_tokens=512))
    api_keys: tuple[str, ...] = ()
    max_n: int = 64
    max_tokens: int = 4096
    max_inflight: int = 256
    max_body_bytes: int = 1 << 20
    batch_window_s: float = 0.01
    max_batch: int = 16
    """Dynamic batching: wait up to batch_window_s to gather up to max_batch requests (0 turns it off)."""
    verifiers: tuple[str, ...] = SAFE_VERIFIERS
    """Verifiers requests may name. Model verifiers (prm:PATH, orm:PATH) only when the operator lists
    them: they are loaded once when the app is built, never per request; `reference` (an oracle that
    needs answer keys) is never taken from requests."""
    strategies: tuple[str, ...] | None = None
    """Strategies requests may name (None: every built-in one)."""
    options: dict[str, Any] = field(default_factory=dict)
    """The operator's options for the default `strategy` (files they name, such as auto's stop rule,
    are read once when the app is built); a request's `ponder.options` go over them, except options
    that name files, which requests may never set."""
    body_timeout_s: float | None = 30.0
    """Time a client has to send its whole request body (408 after); the body is read, and its size
    bounded (413) whatever its framing, before the request takes an in-flight slot."""
    runs_dir: str | None = None
    """A folder of eval runs the /ui page may list and open (its direct subdirectories only)."""
    request_timeout_s: float | None = 600.0
    """Wall-clock limit of every request (a request's own ponder.budget.wall_s can only lower it): it
    becomes the decode deadline the backends honour, and a request still running a few seconds past it
    is cancelled and answered 504 (a hung upstream no longer holds it). None: no limit."""

    def __post_init__(self) -> None:  # a library user's bad setting fails here, naming it, not per request
        for name, lo, integer in (("n", 1, True), ("max_n", 1, True), ("max_tokens", 1, True),
                                  ("max_inflight", 1, True), ("max_body_bytes", 1, True), ("max_batch", 1, True),
                                  ("batch_window_s", 0.0, False)):
            check_number(name, getattr(self, name), lo=lo, integer=integer)
        for name in ("request_timeout_s", "body_timeout_s"):
            if getattr(self, name) is not None:
                check_number(name, getattr(self, name), lo=0.0, lo_open=True)
        if self.n > self.max_n:
            raise ConfigError("n", self.n, f"must be <= max_n={self.max_n}")


def _params(req: _Common, base: SamplingParams, limit: int) -> SamplingParams:
    for name in ("max_completion_tokens", "max_tokens"):
        if getattr(req, name) is not None:  # 0 is a value, not "unset": a ConfigError (400) naming the field
            check_number(name, getattr(req, name), lo=1, integer=True)
    max_tokens = req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
    if max_tokens is not None and max_tokens > limit:
        raise errors.APIError(400, f"max_tokens={max_tokens}: the server's limit is {limit}", param="max_tokens",
                              code="invalid_parameter")
    stop = (req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ())
    return base.merge(temperature=req.temperature, top_p=req.top_p, max_tokens=max_tokens, stop=stop or None)


def _fresh_seed() -> int:
    """A request without a seed gets a fresh one (OpenAI's behaviour: identical requests differ); a
    client that wants reproducible samples sends `seed`."""
    return secrets.randbits(31)


@dataclass
class _Choice:
    """What one request runs: from the server's defaults, a model-name prefix or optillm approach, then
    the body's `ponder` object, in that order."""

    strategy: str
    n: int
    verifier: str | None
    options: dict[str, Any] = field(default_factory=dict)
    reread: bool = False


class _Service:
    """What one app holds: the shared generator, its defaults and metrics."""

    def __init__(self, generator: Generator, config: ServerConfig) -> None:
        self.config = config
        self.metrics = Metrics()
        self.base = generator
        self.generator: Generator = generator
        if config.max_batch > 1 and config.batch_window_s >= 0:
            self.generator = BatchingGenerator(generator, window_s=config.batch_window_s,
                                               max_requests=config.max_batch, on_batch=self.metrics.batch.observe)
        self.inflight = 0
        for name in config.verifiers:
            check_verifier_name(name)
            if name == "reference":
                raise ConfigError("verifiers", name, "the reference verifier needs answer keys; it is for ponder eval")
        if config.strategies is not None:
            for name in config.strategies:
                check_strategy_name(name)  # a ConfigError names an unknown one
        self.options = load_file_options(config.options)
        make_strategy(config.strategy, 1 if config.strategy == "greedy" else max(config.n, 1), **self.options)
        # model verifiers load now, once: a request never makes the server load anything
        self.verifiers: dict[str, Verifier | None] = {
            name: make_verifier(name, self.generator) for name in config.verifiers if name.startswith(MODEL_VERIFIERS)}
        self.runs = ui.Runs(config.runs_dir) if config.runs_dir is not None else None

    def ui_options(self) -> dict[str, Any]:
        """What the /ui page may offer: only what this server allows."""
        c = self.config
        names = list(c.strategies) if c.strategies is not None else [s for s in STRATEGIES if s not in FILE_STRATEGIES]
        if c.strategy not in names:
            names.insert(0, c.strategy)
        return {"model": c.model_name, "generation": True, "strategies": names, "strategy": c.strategy, "n": c.n,
                "verifier": c.verifier, "verifiers": list(c.verifiers), "max_n": c.max_n, "max_tokens": c.max_tokens,
                "default_max_tokens": c.params.max_tokens, "auth": bool(c.api_keys),
                "default_verifiers": dict(DEFAULT_VERIFIER), "optillm_approaches": list(optillm.APPROACHES)}

    def verifier(self, name: str | None) -> Verifier | None:
        if name is not None and name in self.verifiers:
            return self.verifiers[name]
        return make_verifier(name, self.generator)

    def resolve(self, req: _Common) -> _Choice:
        """What a request runs; unknown model → 404, unsupported optillm approach → 400."""
        c = self.config
        served = (c.model_name, "ponder")
        choice = _Choice(c.strategy, c.n, c.verifier)
        m = _PREFIX.match(req.model)
        opt = optillm.approach(req.model, served, (req.model_extra or {}).get("optillm_approach"))
        if m and m.group("strategy") in STRATEGIES:
            if m.group("model") not in served:
                raise errors.APIError(404, f"model {m.group('model')!r} is not served here (try {c.model_name!r})",
                                      param="model", code="model_not_found")
            choice.strategy = m.group("strategy")
            choice.n = int(m.group("n")) if m.group("n") else (1 if choice.strategy == "greedy" else c.n)
        elif req.model not in served and optillm.split_model(req.model, served) is None:
            raise errors.APIError(404, f"model {req.model!r} is not served here (try {c.model_name!r} or "
                                  f"'vote-8/{c.model_name}')", param="model", code="model_not_found")
        if opt is not None:
            choice = _Choice(opt.strategy, opt.n if opt.n is not None else c.n, opt.verifier, dict(opt.options),
                             opt.reread)
        o = req.ponder
        if o is not None:
            if o.strategy is not None:
                choice.strategy, choice.options = o.strategy, {}
                choice.n = 1 if o.strategy == "greedy" and o.n is None else choice.n
            choice.n = o.n if o.n is not None else choice.n
            choice.verifier = o.verifier if o.verifier is not None else choice.verifier
        strategy, n, verifier = choice.strategy, choice.n, choice.verifier
        if n > c.max_n:
            raise errors.APIError(400, f"ponder.n={n}: the server's limit is {c.max_n}", param="ponder.n",
                                  code="invalid_parameter")
        if req.n not in (None, 1):
            raise errors.APIError(400, f"n={req.n}: one choice per request; ask for samples with ponder.n",
                                  param="n", code="invalid_parameter")
        if c.strategies is not None and strategy not in c.strategies and strategy != c.strategy:
            raise errors.APIError(400, f"ponder.strategy={strategy!r} is not allowed on this server; allowed: "
                                  f"{', '.join(c.strategies)}", param="ponder.strategy", code="not_allowed")
        choice.verifier = verifier = verifier or DEFAULT_VERIFIER.get(strategy)
        if verifier is not None and verifier not in c.verifiers and verifier != c.verifier:
            raise errors.APIError(400, f"ponder.verifier={verifier!r} is not allowed on this server; allowed: "
                                  f"{', '.join(c.verifiers)}", param="ponder.verifier", code="not_allowed")
        return choice

    def engine(self, req: _Common, *, raw: bool) -> tuple[Engine, bool]:
        choice = self.resolve(req)
        strategy = choice.strategy
        params = _params(req, self.config.params, self.config.max_tokens)
        b = req.ponder.budget if req.ponder and req.ponder.budget else None
        wall = b.wall_s if b else None
        limit = self.config.request_timeout_s
        if limit is not None:
            wall = limit if wall is None else min(wall, limit)
        budget = Budget(samples=b.samples if b else None, tokens=b.tokens if b else None, wall_s=wall)
        prompter = Prompter(instruction="", raw=raw, reread=choice.reread)
        opts = dict(self.options) if strategy == self.config.strategy else {}
        opts.update(choice.options)
        asked = (req.ponder.options if req.ponder else None) or {}
        for key in asked:
            if key in FILE_OPTIONS:
                raise errors.APIError(400, f"ponder.options.{key}: names a file, which only the operator sets "
                                      "(ponder serve --option)", param=f"ponder.options.{key}", code="not_allowed")
        opts.update(asked)
        eng = Engine(self.generator, make_strategy(strategy, choice.n, **opts), self.verifier(choice.verifier),
                     params=params, budget=budget, seed=req.seed if req.seed is not None else _fresh_seed(),
                     prompter=prompter)
        return eng, bool(req.ponder and req.ponder.return_trace)


def _content(result: Result) -> str:
    if result.text is not None:
        return result.text
    return result.candidates[0].text if result.candidates else ""


def _usage(result: Result) -> dict[str, Any]:
    u = result.usage
    return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
            "total_tokens": u.total_tokens}


def _ponder_info(result: Result, trace: bool) -> dict[str, Any]:
    votes = next((e for e in result.trace if e["event"] == "vote"), None)
    info: dict[str, Any] = {"answer": result.answer, "strategy": result.strategy, "samples": len(result.candidates),
                            "calls": result.usage.calls, "wall_s": result.usage.wall_s}
    if votes:
        info["votes"] = votes["distribution"]
    if trace:
        info["trace"] = list(result.trace)
        info["candidates"] = [c.to_dict() for c in result.candidates]
    return info


def create_app(generator: Generator, config: ServerConfig | None = None, *,
               on_shutdown: Callable[[], Any] | None = None) -> FastAPI:
    """An app serving `generator` with ponder strategies. Everything lives on `app.state`.
    `on_shutdown` runs when the server stops gracefully (SIGTERM, Ctrl-C): `ponder serve` releases
    the backend there (vLLM's engine processes), because uvicorn re-raises the signal afterwards and
    code after `uvicorn.run` never runs."""
    config = config or ServerConfig()
    svc = _Service(generator, config)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if on_shutdown is not None:
                on_shutdown()

    app = FastAPI(title="ponder", version="0.1.0", lifespan=lifespan)
    app.state.ponder = svc
    errors.install(app)

    routes: set[str] = set()

    def route_label(path: str) -> str:
        """The metrics label of a path: its route, or "unmatched" (junk paths must not grow /metrics)."""
        if not routes:
            routes.update(getattr(r, "path", "") for r in app.routes)
        return path if path in routes else "unmatched"

    def reject(path: str, e: errors.APIError, headers: dict[str, str] | None = None) -> JSONResponse:
        svc.metrics.requests.labels(route_label(path), str(e.status)).inc()
        return JSONResponse(e.body(), status_code=e.status, headers=headers)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        path = request.url.path
        if path.startswith("/v1/"):
            if svc.config.api_keys:
                auth = request.headers.get("authorization", "")
                if not auth.startswith("Bearer ") or auth[7:] not in svc.config.api_keys:
                    return reject(path, errors.APIError(401, "invalid or missing API key",
                                                        type="authentication_error", code="invalid_api_key"))
            if svc.inflight >= svc.config.max_inflight:
                return reject(path, errors.APIError(429, f"over capacity: {svc.inflight} requests in flight",
                                                    type="rate_limit", code="over_capacity"), {"retry-after": "1"})
        t0 = time.perf_counter()
        svc.inflight += 1
        svc.metrics.inflight.inc()
        done = False

        def release(status: int) -> None:
            nonlocal done
            if done:
                return
            done = True
            svc.inflight -= 1
            svc.metrics.inflight.dec()
            if path.startswith("/v1/"):
                label = route_label(path)
                svc.metrics.requests.labels(label, str(status)).inc()
                svc.metrics.latency.labels(label).observe(time.perf_counter() - t0)

        try:
            response = await call_next(request)
        except BaseException:
            release(500)
            raise
        body = getattr(response, "body_iterator", None)
        if body is None:
            release(response.status_code)
            return response

        async def counted() -> AsyncIterator[Any]:
            # a request holds its in-flight slot until its body is sent: a stream counts while it
            # streams, and a client that goes away releases it (the iterator is closed)
            try:
                async for part in body:
                    yield part
            finally:
                release(response.status_code)

        response.body_iterator = counted()
        return response

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": svc.config.model_name, "backend": svc.base.name}

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return PlainTextResponse(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        name = svc.config.model_name
        return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "ponder", "created": 0}]}

    def account(result: Result) -> None:
        u = result.usage
        svc.metrics.tokens.labels("prompt").inc(u.prompt_tokens or 0)
        svc.metrics.tokens.labels("completion").inc(u.completion_tokens or 0)

    async def respond(req: _Common, problem: Problem, *, chat: bool):
        engine, trace = svc.engine(req, raw=not chat)
        live = bool(req.ponder and req.ponder.events)
        if live and not req.stream:
            raise errors.APIError(400, "ponder.events=true needs stream=true", param="ponder.events",
                                  code="invalid_parameter")
        if req.stream:
            return _stream(engine, problem, req.model, trace, chat=chat, account=account,
                           timeout_s=svc.config.request_timeout_s, live=live)
        limit = svc.config.request_timeout_s
        try:
            # the budget's deadline stops decoding; this catches what does not stop (a hung upstream)
            result = await asyncio.wait_for(engine.asolve(problem),
                                            None if limit is None else limit + _DEADLINE_GRACE_S)
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
                "model": req.model, "usage": _usage(result), "ponder": _ponder_info(result, trace),
                "choices": [choice]}

    @app.post("/v1/chat/completions")
    async def chat(req: ChatRequest):
        if not req.messages:
            raise errors.APIError(400, "messages: must not be empty", param="messages", code="invalid_parameter")
        msgs = tuple(Message(m.role, m.text()) for m in req.messages)  # type: ignore[arg-type]
        return await respond(req, Problem(messages=msgs, id="req"), chat=True)

    @app.post("/v1/completions")
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

    ui.mount(app, options=svc.ui_options, runs=svc.runs)

    # outermost (added after the guard middleware): bodies are read, bounded in size and time, before anything else
    app.add_middleware(BodyGuard, max_bytes=config.max_body_bytes, timeout_s=config.body_timeout_s,
                       on_reject=lambda path, status: svc.metrics.requests.labels(route_label(path), str(status)).inc())
    return app


def _stream(engine: Engine, problem: Problem, model: str, trace: bool, *, chat: bool, account,
            timeout_s: float | None = None, live: bool = False) -> StreamingResponse:
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
            limit = None if timeout_s is None else time.monotonic() + timeout_s + _DEADLINE_GRACE_S
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
