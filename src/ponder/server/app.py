"""The FastAPI app: OpenAI-compatible endpoints where each request picks a strategy and budget.

`create_app(generator, config)` builds everything the app needs and keeps it on the app (no module
globals). Per request, an `Engine` is built from copies of the defaults merged with the request's
fields; nothing shared is ever written. The strategy comes from the body's `ponder` object, or from a
model-name prefix (`vote-8/MODEL`, `best-of-n-4/MODEL`, `greedy/MODEL`), or an optillm approach
(`re2-MODEL`, `optillm_approach`: `ponder.server.optillm`), or the server default.
`usage` is the real sum over every internal backend call. With `stream: true`, progress chunks arrive
while the strategy works (a `ponder.progress` field that standard clients ignore), then the chosen
answer's content, then a final chunk with usage.

The pieces, one idea per module: `service` (the config, and a request → an Engine), `gate` (keys,
capacity, metrics), `completions` (the chat and completion routes and streaming), `responses` (the
Responses API), `run` (one run as the endpoints report it), `body` (bounded request bodies),
`ui` (the /ui page and eval runs), `errors` (OpenAI's error object).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, RedirectResponse

from ponder.backends.base import Generator
from ponder.server import completions, errors, gate, responses, ui
from ponder.server.body import BodyGuard
from ponder.server.service import SAFE_VERIFIERS, ServerConfig, Service

__all__ = ["SAFE_VERIFIERS", "ServerConfig", "create_app"]


def create_app(generator: Generator, config: ServerConfig | None = None, *,
               arms: Mapping[str, Generator] | None = None,
               on_shutdown: Callable[[], Any] | None = None) -> FastAPI:
    """An app serving `generator` with ponder strategies. Everything lives on `app.state`.
    `arms`: the other models the default strategy spans, by the names it uses (route's table), loaded
    by the caller before the app is built (a request never loads one).
    `on_shutdown` runs when the server stops gracefully (SIGTERM, Ctrl-C): `ponder serve` releases
    the backend there (vLLM's engine processes), because uvicorn re-raises the signal afterwards and
    code after `uvicorn.run` never runs."""
    config = config or ServerConfig()
    svc = Service(generator, config, arms)

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
    api = completions.router(svc)
    api.include_router(responses.router(svc))

    def route_label(path: str) -> str:
        """The metrics label of a path: its route, or "unmatched" (junk paths must not grow /metrics)."""
        if not routes:  # an included router is one entry of app.routes: its own routes are read from it
            routes.update(getattr(r, "path", "") for r in [*app.routes, *api.routes])
        return path if path in routes else "unmatched"

    gate.install(app, svc, route_label)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:  # a browser pointed at the server lands on the live view
        return RedirectResponse("/ui")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": svc.config.model_name, "backend": svc.base.name}

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return PlainTextResponse(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(api)
    ui.mount(app, options=svc.ui_options, runs=svc.runs)

    # outermost (added after the gate): bodies are read, bounded in size and time, before anything else
    app.add_middleware(BodyGuard, max_bytes=config.max_body_bytes, timeout_s=config.body_timeout_s,
                       on_reject=lambda path, status: svc.metrics.requests.labels(route_label(path), str(status)).inc())
    return app
