"""What every command shares: the typer app, one-line errors, option parsing, engine building."""

from __future__ import annotations

import json
import os

import typer
from rich.console import Console

from ponder.errors import ConfigError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="ponder: turn extra inference compute into better answers.")


def _fail(err: Exception, code: int) -> None:
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {err}", highlight=False)
    raise typer.Exit(code)


def _fail_unwritable(path: str, err: OSError) -> None:
    _fail(ConfigError("out", path, f"cannot be written ({err.strerror or err})"), 2)


def _warn(lines: list[str]) -> None:
    """Warnings on stderr, one line each (e.g. what reading an eval log skipped)."""
    for line in lines:
        Console(stderr=True, soft_wrap=True).print(f"[yellow]warning:[/] {line}", highlight=False)


def _progress_runner(tty: bool, n: int, label: str = "", *, quiet: bool = False):
    """A context manager yielding a token-progress callback: a spinner on a terminal, plain lines on
    stderr every 15 s elsewhere (make, nohup, CI), so long work is never silent; none when `quiet`
    (--json: the output is for a program)."""
    from contextlib import contextmanager

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ponder.cli.progress import Lines

    what = f"sampling {n} solution(s)" + (f" ({label})" if label else "")

    @contextmanager
    def cm():
        if quiet:
            yield None
            return
        if not tty:
            lines = Lines(what, None, every_s=15.0)
            lines.update(0, force=True)
            total = [0]

            def advance(k: int) -> None:
                total[0] += k
                lines.update(total[0], tokens=None)
            yield advance
            return
        with Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"),
                      TextColumn("{task.completed} tokens"), TimeElapsedColumn(),
                      console=Console(stderr=True), transient=True) as prog:
            task = prog.add_task(what, total=None)
            yield lambda k: prog.advance(task, k)
    return cm()


def strategy_help() -> str:
    """The --strategy help, from the strategies' declarations."""
    from ponder.registry import builtin_strategies

    return " | ".join(builtin_strategies()) + " (or a plugin); `ponder strategies` lists each one's options"


def verifier_help() -> str:
    from ponder.registry import verifier_help as names

    return names() + ". Default: the strategy's own (confidence for weighted-vote and best-of-n, llm-prm for search)."


def backend_help() -> str:
    from ponder.registry import backend_help as names

    return names()


BACKEND_OPTION_HELP = ("KEY=VALUE passed to the backend (repeatable; VALUE read as JSON when it parses), e.g. "
                       "tensor_parallel_size=2, max_model_len=4096, enforce_eager=true for vllm.")


INSTRUCTION_HELP = ("The instruction sent after each question (default: reason step by step and put the final "
                    "answer within \\boxed{}). Ask for the boxed answer: it is what gets graded and voted on.")
OPTION_HELP = ("KEY=VALUE passed to the strategy (repeatable; VALUE read as JSON when it parses), e.g. "
               "batch=2, threshold=0.9 for adaptive-vote; mode=offline, keep=0.1 for deepconf.")


def _backend_options(pairs: list[str] | None, flag: str = "backend-option",
                     example: str = "tensor_parallel_size=2") -> dict:
    """KEY=VALUE pairs (--backend-option, --option) → keyword arguments."""
    out = {}
    for pair in pairs or ():
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigError(flag, pair, f"expected KEY=VALUE, e.g. {example}")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def _model_label(model: str | None, backend: str) -> str | None:
    """What an eval log records as its model: a packaged model's name when the GGUF is one (also a
    copy given by path, e.g. carried to a GPU machine), else what the user gave."""
    if backend != "llamacpp":
        return model
    from ponder.models import packaged_name

    return packaged_name(model) or model or os.environ.get("PONDER_MODEL") or "default"


def _model_sha256(model: str | None, backend: str) -> str | None:
    """A distilled model's registered file hash for the eval log (None for other models)."""
    if backend != "llamacpp":
        return None
    from ponder.models import local_sha256

    return local_sha256(model)


def _vllm_logging(level: str) -> None:
    """vLLM logs to stdout at INFO by default, which would mix with `--json` output: send its log to
    stderr and, for one-shot commands, keep only warnings (the user's own VLLM_LOGGING_* settings win).
    Must run before vllm is imported; it is inherited by vLLM's engine processes."""
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", level)


async def _closing(coro, generator):
    """Await `coro`, then close the generator's async resources (an HTTP client's connections) in
    the same event loop, before asyncio.run() closes it."""
    try:
        return await coro
    finally:
        while hasattr(generator, "inner"):  # through wrappers (the batching one)
            generator = generator.inner
        aclose = getattr(generator, "aclose", None)
        if callable(aclose):
            await aclose()


def _close(generator) -> None:
    """Release a backend that holds processes or threads (vLLM's engine, llama.cpp's context)."""
    close = getattr(generator, "close", None)
    if callable(close):
        close()


def _engine(strategy: str, n: int, verifier: str | None, model: str | None, backend: str, base_url: str | None,
            api_key: str | None, temperature: float, max_tokens: int, budget_tokens: int | None,
            budget_seconds: float | None, seed: int, concurrency: int = 4,
            search: dict | None = None, backend_options: dict | None = None, instruction: str | None = None,
            pool=None):
    """The command's flags → `build_engine` (names and numbers are checked before the model loads)."""
    from ponder.engine import build_engine
    from ponder.params import Budget, SamplingParams

    params = SamplingParams(temperature=temperature, max_tokens=max_tokens)
    budget = Budget(tokens=budget_tokens, wall_s=budget_seconds)
    opts = {"base_url": base_url, "api_key": api_key} if backend == "openai" else {}
    if backend == "vllm":
        _vllm_logging("WARNING")
    return build_engine(strategy, n, options=search, verifier=verifier, backend=backend, model=model,
                        backend_options={**opts, **(backend_options or {})}, params=params, budget=budget, seed=seed,
                        instruction=instruction, concurrency=concurrency, pool=pool)


def _load_runs(runs: list[str]):
    from pathlib import Path

    from ponder.eval.runner import RunDir

    out = []
    for r in runs:
        run = RunDir(r)
        try:
            recs = run.records()
        except ConfigError as e:
            _fail(e, 2)
        _warn(run.issues)
        if not recs:
            _fail(ConfigError("run", r, "has no logged records (is it a ponder eval --out directory?)"), 2)
        out.append((Path(r).name, recs))
    return out


RECIPE_HELP = ("A recipe: a YAML file or the name of a shipped one (ponder recipes). It fills in the flags "
               "not given here; --option/--backend-option pairs are merged over its options.")


def _recipe_callback(*skip: str):
    """An eager --recipe callback: the recipe's values become the defaults of the command's other
    parameters (click's default_map), so a flag given explicitly still wins. `skip`: parameters of
    the command that mean something else there (serve's --max-tokens is a cap, not a setting)."""

    def callback(ctx: typer.Context, value: str | None) -> str | None:
        if not value:
            return value
        from ponder.recipes import load_recipe

        try:
            recipe = load_recipe(value)
        except ConfigError as e:
            _fail(e, 2)
        names = {p.name for p in ctx.command.params} - set(skip)
        ctx.default_map = {**(ctx.default_map or {}), **{k: v for k, v in recipe.flags().items() if k in names}}
        ctx.meta["ponder.recipe"] = recipe
        return value

    return callback


def _recipe_pairs(ctx: typer.Context, pairs: list[str], which: str = "options") -> list[str]:
    """--option (or --backend-option) pairs with the recipe's own in front, so the command line's win."""
    recipe = ctx.meta.get("ponder.recipe")
    if recipe is None:
        return list(pairs)
    return [f"{k}={json.dumps(v)}" for k, v in getattr(recipe, which).items()] + list(pairs)
