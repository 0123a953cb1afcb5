"""`ponder ask`: one question, its answer, votes, compute and (optionally) the trace."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from ponder.cli.common import (
    BACKEND_OPTION_HELP,
    INSTRUCTION_HELP,
    OPTION_HELP,
    RECIPE_HELP,
    _backend_options,
    _close,
    _closing,
    _engine,
    _fail,
    _progress_runner,
    _recipe_callback,
    _recipe_pairs,
    app,
    backend_help,
    strategy_help,
    verifier_help,
)
from ponder.errors import BackendError, BudgetExhaustedError, ConfigError, PonderError


@app.command()
def ask(
    ctx: typer.Context,
    question: str = typer.Argument(..., help="The question to answer."),
    strategy: str | None = typer.Option(None, "--strategy", "-s", help=strategy_help() + " Default: vote, "
                                        "or what --effort gives."),
    effort: str | None = typer.Option(None, "--effort", help="minimal | low | medium | high: OpenAI's "
                                      "reasoning_effort levels, each a strategy and N (ponder.effort)."),
    n: int | None = typer.Option(None, "--n", "-n", help="Samples (N); default: the strategy's (8 for vote, 1 "
                                                           "for greedy and think, 16 for auto)."),
    verifier: str | None = typer.Option(None, "--verifier", "-v", help=verifier_help()),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed gives the same samples."),
    model: str | None = typer.Option(None, "--model", "-m",
                                     help="A packaged or distilled model name (ponder models) or a GGUF path "
                                          "($PONDER_MODEL)."),
    backend: str = typer.Option("llamacpp", "--backend", help=backend_help()),
    backend_option: list[str] = typer.Option([], "--backend-option", "-O", help=BACKEND_OPTION_HELP),
    base_url: str | None = typer.Option(None, "--base-url", help="Server URL (openai backend)."),
    api_key: str | None = typer.Option(None, "--api-key", envvar="PONDER_API_KEY"),
    temperature: float = typer.Option(0.7, "--temperature", "-t"),
    max_tokens: int = typer.Option(512, "--max-tokens"),
    budget_tokens: int | None = typer.Option(None, "--budget-tokens",
                                                help="Cap on generated tokens for this question."),
    budget_seconds: float | None = typer.Option(None, "--budget-seconds",
                                                   help="Cap on wall-clock seconds."),
    width: int | None = typer.Option(None, "--width", help="Search: beam width M (children per node)."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Search: depth limit."),
    step_tokens: int | None = typer.Option(None, "--step-tokens", help="Search: max tokens per step."),
    aggregate: str | None = typer.Option(None, "--aggregate", help="Search: last | min | prod | mean."),
    option: list[str] = typer.Option([], "--option", help=OPTION_HELP),
    instruction: str | None = typer.Option(None, "--instruction", help=INSTRUCTION_HELP),
    recipe: str | None = typer.Option(None, "--recipe", help=RECIPE_HELP, is_eager=True,
                                      callback=_recipe_callback()),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    show_trace: bool = typer.Option(False, "--show-trace", help="Print what the strategy did (a tree for search)."),
) -> None:
    """Answer QUESTION with a test-time scaling strategy on the embedded model (or a server)."""
    from ponder.registry import default_n
    from ponder.types import Problem

    try:
        problem = Problem(prompt=question, id="ask")
        if effort is not None:
            from ponder.effort import EFFORTS, check_level

            level = EFFORTS[check_level(effort, "effort")]
            if strategy is None:  # an explicit --strategy (and --n) wins over the level's
                strategy, n = level.strategy, n if n is not None else level.n
                option = [*(f"{k}={json.dumps(v)}" for k, v in level.options.items()), *option]
        strategy = strategy or "vote"
        n_eff = n if n is not None else default_n(strategy)
        search = {"width": width, "max_steps": max_steps, "step_tokens": step_tokens, "aggregate": aggregate,
                  **_backend_options(_recipe_pairs(ctx, option), "option", "batch=2")}
        engine = _engine(strategy, n_eff, verifier, model, backend, base_url, api_key, temperature, max_tokens,
                         budget_tokens, budget_seconds, seed, search=search, instruction=instruction,
                         backend_options=_backend_options(_recipe_pairs(ctx, backend_option, "backend_options")))
        try:
            with _progress_runner(sys.stderr.isatty(), n_eff, strategy, quiet=as_json) as progress:
                result = asyncio.run(_closing(engine.asolve(problem, progress), engine.generator))
        finally:
            _close(engine.generator)
    except ConfigError as e:
        _fail(e, 2)
    except (BackendError, BudgetExhaustedError, ImportError) as e:  # ImportError: a backend not installed
        _fail(e, 1)
    except PonderError as e:  # pragma: no cover - every subclass is handled above
        _fail(e, 1)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    _print_result(result, show_trace)


def _print_result(result, show_trace: bool) -> None:
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
        if votes.get("tie"):
            by = votes["weights"] if votes["weighted"] else votes["distribution"]
            tied = [k for k, v in by.items() if v == max(by.values())]
            con.print(f"[yellow]tie:[/] {', '.join(tied)} are level; {votes['winner']} won the tie-break (more "
                      "votes, then the best score, then the smaller answer). More samples (--n) would settle "
                      "it.", highlight=False)
    elif scores:
        con.print("scores: " + ", ".join(f"{s:.3f}" for s in scores["scores"]))
    for line in _explain(result):
        con.print(f"[yellow]note:[/] {line}", highlight=False)
    u = result.usage
    def fmt(x: object) -> str:
        return "unknown" if x is None else str(x)
    con.print(f"[bold]compute:[/] prompt tokens {fmt(u.prompt_tokens)}, generated tokens "
              f"{fmt(u.completion_tokens)}, backend calls {u.calls}, wall {u.wall_s:.2f}s"
              + (f", ~{u.flops_estimate / 1e12:.2f} TFLOP" if u.flops_estimate else ""))
    if show_trace:
        con.rule("trace")
        if any(e["event"] == "expand" for e in result.trace):
            _print_tree(con, result)
        else:
            for e in result.trace:
                con.print(trace_line(e), highlight=False, markup=False)


def _short(v: Any, width: int = 70) -> str:
    text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


def trace_line(e: dict[str, Any]) -> str:
    """One trace event as a line a person reads (`--show-trace`; search strategies draw a tree)."""
    kind = e.get("event", "?")
    if kind == "sample":
        from collections import Counter

        finishes = ", ".join(f"{k} {v}" for k, v in Counter(e.get("finish_reasons") or ()).items())
        return f"sample   {e.get('n')} sample(s) ({finishes}); answers: " + \
            ", ".join("—" if a is None else str(a) for a in e.get("answers") or ())
    if kind == "vote":
        dist = ", ".join(f"{k}×{v}" for k, v in (e.get("distribution") or {}).items())
        return (f"vote     {dist or '(no answers)'}" + (f"; {e['abstained']} without an answer" if e.get("abstained")
                else "") + f" → {e.get('winner')}" + (" (a tie, broken)" if e.get("tie") else ""))
    if kind == "score":
        return f"score    {e.get('verifier')}: " + ", ".join(f"{x:.3f}" for x in e.get("scores") or ())
    if kind == "round":
        p = e.get("p_stop", e.get("p_leader"))
        return (f"round    {e.get('round')}: {e.get('samples')} sample(s) so far, p={p}" +
                (", stop" if e.get("stop") else ""))
    rest = ", ".join(f"{k}={_short(v)}" for k, v in e.items() if k != "event")
    return f"{kind:<8} {rest}"


def _explain(result) -> list[str]:
    """What the trace says the user would otherwise not see: a budget that cut the samples, why an
    adaptive strategy stopped where it did."""
    lines = []
    for e in result.trace:
        if e["event"] == "budget" and e.get("granted") is not None and e["granted"] < e.get("asked", 0):
            lines.append(f"the {e.get('bound')} budget cut {e['asked']} sample(s) to {e['granted']} "
                         f"(raise --budget-tokens / --budget-seconds, or lower --n)")
    rounds = [e for e in result.trace if e["event"] == "round"]
    if rounds:
        last = rounds[-1]
        p = last.get("p_stop", last.get("p_leader", 0.0))
        if last.get("stop"):
            lines.append(f"{result.strategy} stopped after {last['samples']} sample(s) in {len(rounds)} round(s): "
                         f"the vote settled (p={p:.2f})")
        else:
            lines.append(f"{result.strategy} drew {last['samples']} sample(s): the vote never settled "
                         f"(p={p:.2f} after the last round), so it used all it was allowed")
    return lines


def _print_tree(con, result) -> None:
    """The search tree from the trace: every node with its score, pruned and chosen marks."""
    from rich.tree import Tree

    nodes: dict[int, dict[str, Any]] = {0: {"id": 0, "parent": None, "step": "(problem)", "score": None, "done": False}}
    for e in result.trace:
        if e["event"] == "expand":
            nodes.update({nd["id"]: nd for nd in e["nodes"]})
    pruned = {i for e in result.trace if e["event"] == "prune" for i in e.get("pruned", [])}
    chosen: int | None = next((e["chosen"] for e in result.trace if e["event"] == "select"), None)
    kids: dict[int, list[int]] = {}
    for nd in nodes.values():
        if nd["parent"] is not None:
            kids.setdefault(nd["parent"], []).append(nd["id"])
    on_path = set()
    at = chosen
    while at is not None:
        on_path.add(at)
        at = nodes[at]["parent"] if at in nodes else None

    def label(nd) -> str:
        score = "" if nd["score"] is None else f"[cyan]{nd['score']:.2f}[/] "
        marks = (" [green]✔ done[/]" if nd["done"] else "") + (" [red]✂ pruned[/]" if nd["id"] in pruned else "")
        star = "[bold yellow]★ [/]" if nd["id"] in on_path and nd["id"] else ""
        text = nd["step"].replace("\n", " ").replace("[", "\\[")
        return f"{star}#{nd['id']} {score}{text}{marks}"

    def build(tree, i) -> None:
        for k in kids.get(i, []):
            build(tree.add(label(nodes[k])), k)

    root = Tree(label(nodes[0]))
    build(root, 0)
    con.print(root)
    con.print(f"{len(nodes) - 1} nodes, {len(pruned)} pruned; ★ marks the chosen path")
