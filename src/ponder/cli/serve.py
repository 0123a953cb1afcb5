"""`ponder serve`: the OpenAI-compatible server, bounded by the operator's flags."""

from __future__ import annotations

import math
import time
from typing import Any

import typer

from ponder.cli.common import (
    BACKEND_OPTION_HELP,
    RECIPE_HELP,
    _backend_options,
    _close,
    _fail,
    _recipe_callback,
    _recipe_pairs,
    _vllm_logging,
    app,
)
from ponder.errors import ConfigError, PonderError


@app.command()
def serve(
    ctx: typer.Context,
    backend: str = typer.Option("llamacpp", "--backend", help="llamacpp | transformers | vllm | openai"),
    model: str | None = typer.Option(None, "--model", "-m",
                                     help="GGUF/packaged model (llamacpp), HF id or checkpoint dir (transformers, "
                                          "vllm), or the upstream's model (openai)."),
    backend_option: list[str] = typer.Option([], "--backend-option", "-O", help=BACKEND_OPTION_HELP),
    upstream: list[str] = typer.Option([], "--upstream",
                                       help="Upstream OpenAI-compatible URL (openai backend); repeat for a fleet."),
    upstream_key: str | None = typer.Option(None, "--upstream-key", envvar="PONDER_UPSTREAM_KEY"),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    api_key: list[str] = typer.Option([], "--api-key", help="Accepted client key (repeatable); none: open."),
    model_name: str = typer.Option("ponder", "--served-model-name", help="The model id clients send."),
    strategy: str = typer.Option("vote", "--strategy", "-s", help="Default strategy for plain requests."),
    n: int = typer.Option(4, "--n", "-n", help="Default samples for plain requests."),
    max_n: int = typer.Option(64, "--max-n"),
    max_tokens: int = typer.Option(4096, "--max-tokens", help="Largest max_tokens a request may ask for."),
    max_samples: int | None = typer.Option(None, "--max-samples",
                                           help="Most sequences one request may draw (samples, search steps, probes "
                                                "and other models' samples), bounded before any work starts "
                                                "(default 4 × --max-n)."),
    max_request_tokens: int | None = typer.Option(None, "--max-request-tokens",
                                                  help="Most tokens one request may generate, all samples and "
                                                       "verifier calls together (default --max-n × --max-tokens)."),
    max_flops: float | None = typer.Option(None, "--max-flops",
                                           help="Most FLOPs one request may spend (2 × parameters × tokens); "
                                                "default: no FLOP limit."),
    batch_window_ms: float = typer.Option(10.0, "--batch-window-ms", help="Dynamic batching window."),
    max_batch: int = typer.Option(16, "--max-batch", help="Most requests per backend batch (1: no batching)."),
    max_inflight: int = typer.Option(256, "--max-inflight", help="Most requests in flight; more get a 429."),
    header_timeout: float = typer.Option(10.0, "--header-timeout",
                                         help="Seconds a client has to send its request headers (then the "
                                              "connection is closed; 0: no limit)."),
    body_timeout: float = typer.Option(30.0, "--body-timeout",
                                       help="Seconds a client has to send its request body (408 after; 0: no limit)."),
    drain: float = typer.Option(30.0, "--drain-seconds",
                                help="On SIGTERM/Ctrl-C: seconds in-flight requests get to finish before they "
                                     "are cancelled and the model is freed."),
    request_timeout: float = typer.Option(600.0, "--request-timeout",
                                          help="Seconds a request may run (then 504); 0: no limit."),
    allow_verifier: list[str] = typer.Option([], "--allow-verifier",
                                             help="A verifier requests may name, beyond the model's own "
                                                  "(confidence*, judge, llm-prm); prm:PATH / orm:PATH load "
                                                  "at start-up. Repeatable."),
    allow_strategy: list[str] = typer.Option([], "--allow-strategy",
                                             help="Limit the strategies requests may name (repeatable; "
                                                  "default: all)."),
    recipe: str | None = typer.Option(None, "--recipe", help=RECIPE_HELP + " Its sampling settings and "
                                      "budget are not used: requests bring their own.", is_eager=True,
                                      callback=_recipe_callback("max_tokens")),
    runs: str | None = typer.Option(None, "--runs", help="A folder of eval runs the /ui page may browse."),
    effort: list[str] = typer.Option([], "--effort", help="LEVEL=STRATEGY:N[,KEY=VALUE...]: what a request's "
                                     "reasoning_effort LEVEL (minimal, low, medium, high) runs, e.g. high=vote:32 "
                                     "(repeatable; defaults: minimal=greedy:1 low=vote:4 medium=auto:8 high=auto:16)."),
    option: list[str] = typer.Option([], "--option",
                                     help="KEY=VALUE for the default --strategy (repeatable), e.g. rule=stop.json "
                                          "for auto; files are read once, here. Requests may set other options "
                                          "with ponder.options."),
) -> None:
    """Serve an OpenAI-compatible API where every request can ask for a strategy and budget; the
    page at /ui watches a strategy work (and browses --runs)."""
    try:
        import uvicorn  # noqa: F401  (the server extra is installed: checked before the model loads)

        from ponder.effort import parse_efforts
        from ponder.params import check_number
        from ponder.registry import make_generator, make_strategy, other_models, own_model
        from ponder.server.app import SAFE_VERIFIERS, ServerConfig, create_app
    except ImportError as e:
        _fail(PonderError(f"the server needs its extra: pip install ponder[server] ({e})"), 1)
    try:
        # validate before loading anything
        check_number("port", port, lo=0, hi=65535, integer=True)
        check_number("max_n", max_n, lo=1, integer=True)
        check_number("max_batch", max_batch, lo=1, integer=True)
        check_number("batch_window_ms", batch_window_ms, lo=0.0)
        check_number("max_tokens", max_tokens, lo=1, integer=True)
        check_number("max_inflight", max_inflight, lo=1, integer=True)
        check_number("request_timeout", request_timeout, lo=0.0)
        check_number("body_timeout", body_timeout, lo=0.0)
        check_number("header_timeout", header_timeout, lo=0.0)
        check_number("drain_seconds", drain, lo=0.0)
        if n > max_n:
            raise ConfigError("n", n, f"the default n is above --max-n={max_n}, so every request would be refused")
        options = _backend_options(_recipe_pairs(ctx, option), "option", "rule=stop.json")
        default = make_strategy(strategy, n, **options)
        others = other_models(default)  # route's and cascade's other models: loaded now, beside --model
        model = model or own_model(default)
        if runs is not None:
            from pathlib import Path

            if not Path(runs).is_dir():
                raise ConfigError("runs", runs, "is not a directory")
        gen_opts = _backend_options(_recipe_pairs(ctx, backend_option, "backend_options"))
        if backend == "openai":
            if not upstream:
                raise ConfigError("upstream", upstream, "give --upstream URL (repeat it for a fleet)")
            gen_opts = {"base_url": list(upstream), "api_key": upstream_key, **gen_opts}
        elif backend == "vllm":
            _vllm_logging("INFO")
        gen = make_generator(backend, model, **gen_opts)
        arms = {m: make_generator(backend, m, **gen_opts) for m in others}
        cfg = ServerConfig(model_name=model_name, strategy=strategy, n=n, api_keys=tuple(api_key), max_n=max_n,
                           max_tokens=max_tokens, batch_window_s=batch_window_ms / 1000, max_batch=max_batch,
                           max_inflight=max_inflight, verifiers=SAFE_VERIFIERS + tuple(allow_verifier),
                           request_timeout_s=request_timeout or None, body_timeout_s=body_timeout or None,
                           strategies=tuple(allow_strategy) or None,
                           options=options, runs_dir=runs, max_samples=max_samples, efforts=parse_efforts(effort),
                           max_request_tokens=max_request_tokens, max_flops=max_flops, drain_s=drain)
        def close_all() -> None:
            for g in (gen, *arms.values()):
                _close(g)

        app_ = create_app(gen, cfg, arms=arms, on_shutdown=close_all)  # loads allowed model verifiers
    except ConfigError as e:
        _fail(e, 2)
    except ImportError as e:
        _fail(e, 1)
    # SIGTERM / Ctrl-C: stop accepting, let in-flight requests finish for --drain-seconds, then cancel
    # them (their decodes stop at the next token) and free the model once no decode runs
    from ponder.server.http import with_header_timeout

    extra: dict[str, Any] = {"http": with_header_timeout(header_timeout)} if header_timeout else {}
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(f"ponder serve: {gen.name} as model {model_name!r}, default strategy {strategy} (n={n})\n"
               f"  API (OpenAI-compatible): http://{shown}:{port}/v1\n"
               f"  live view:               http://{shown}:{port}/ui" + (" (needs the API key)" if api_key else ""),
               err=True)
    run_server(app_, host=host, port=port, log_level="info",
               timeout_graceful_shutdown=math.ceil(drain) if drain else None, **extra)


def run_server(app_: Any, **config: Any) -> None:
    """uvicorn serving `app_`, telling its service when a shutdown starts (SIGTERM, Ctrl-C): streams
    still running near the end of the drain then get an error event and [DONE], not a cut connection."""
    import uvicorn

    svc = app_.state.ponder

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            if svc.draining_since is None:
                svc.draining_since = time.monotonic()
            super().handle_exit(sig, frame)

    Server(uvicorn.Config(app_, **config)).run()


@app.command()
def ui(runs: str = typer.Argument(..., help="A folder of eval runs (each a ponder eval --out directory)."),
       host: str = typer.Option("127.0.0.1", "--host"),
       port: int = typer.Option(8000, "--port"),
       api_key: list[str] = typer.Option([], "--api-key", help="Accepted key (repeatable); none: open."),
       max_inflight: int = typer.Option(16, "--max-inflight", help="Most requests reading runs at once; "
                                                                   "more get a 429.")) -> None:
    """Browse eval runs in a web page (no model is loaded): open http://HOST:PORT/ui."""
    try:
        import uvicorn

        from ponder.params import check_number
        from ponder.server.ui import create_runs_app
    except ImportError as e:
        _fail(PonderError(f"the page needs the server extra: pip install ponder[server] ({e})"), 1)
    try:
        check_number("port", port, lo=0, hi=65535, integer=True)
        check_number("max_inflight", max_inflight, lo=1, integer=True)
        app_ = create_runs_app(runs, api_keys=tuple(api_key), max_inflight=max_inflight)
    except ConfigError as e:
        _fail(e, 2)
    typer.echo(f"ponder ui: http://{host}:{port}/ui")
    uvicorn.run(app_, host=host, port=port, log_level="warning")
