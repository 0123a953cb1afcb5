"""`ponder strategies` and `ponder backends`: what each strategy and backend declares (what N means,
options with their types, bounds and defaults, what each can do); `--markdown` prints the docs' tables."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from ponder.cli.common import _fail, app
from ponder.errors import ConfigError


def strategies_markdown() -> str:
    """The README's strategy table and the guide's option tables, generated from the declarations."""
    from ponder.registry import builtin_strategies

    specs = builtin_strategies()
    lines = ["| strategy | what it does | N is | needs | paper |", "|---|---|---|---|---|"]
    for s in specs.values():
        lines.append(f"| `{s.name}` | {s.summary} | {s.n_means} | {s.needs or '—'} | {s.paper or '—'} |")
    out = ["\n".join(lines), ""]
    for s in specs.values():
        rows = s.option_help()
        if not rows:
            continue
        out.append(f"**`{s.name}`** options:\n")
        out.append("| option | value | what it does |\n|---|---|---|")
        out += [f"| `{name}` | {kind} | {text} |" for name, kind, text in rows]
        out.append("")
    return "\n".join(out)


@app.command()
def strategies(name: str | None = typer.Argument(None, help="One strategy (default: all)."),
               markdown: bool = typer.Option(False, "--markdown", help="Print the docs' Markdown tables.")) -> None:
    """List the strategies: what each does, what N counts, its options (pass them with --option KEY=VALUE)."""
    from ponder.registry import builtin_strategies, strategy_spec

    if markdown:
        typer.echo(strategies_markdown())
        return
    try:
        specs = [strategy_spec(name)] if name else list(builtin_strategies().values())
    except ConfigError as e:
        _fail(e, 2)
    con = Console(soft_wrap=True)
    if not name:
        t = Table(show_edge=False)
        for col in ("strategy", "N", "what it does"):
            t.add_column(col)
        for s in specs:
            t.add_row(s.name, str(s.default_n), s.summary)
        con.print(t)
        con.print("[dim]ponder strategies NAME shows one strategy's options[/]")
        return
    s = specs[0]
    con.print(f"[bold]{s.name}[/]: {s.summary}", highlight=False)
    con.print(f"N: {s.n_means} (default {s.default_n})" + (f"; paper: {s.paper}" if s.paper else ""), highlight=False)
    if s.needs:
        con.print(f"needs: {s.needs}", highlight=False)
    rows = s.option_help()
    if s.options is None:
        con.print("options: not declared (a plugin without a StrategySpec)")
    elif not rows:
        con.print("options: none")
    else:
        t = Table(show_edge=False)
        for col in ("--option", "value", "what it does"):
            t.add_column(col)
        for opt_name, kind, text in rows:
            t.add_row(opt_name, kind, text)
        con.print(t)


@app.command()
def backends(markdown: bool = typer.Option(False, "--markdown", help="Print the docs' Markdown matrix.")) -> None:
    """List the backends (--backend NAME), what --model names for each and what each can do."""
    from ponder.registry import BACKENDS, FEATURES, backends_markdown

    if markdown:
        typer.echo(backends_markdown())
        return
    con = Console(soft_wrap=True)
    t = Table(show_edge=False)
    t.add_column("")
    for b in BACKENDS:
        t.add_column(b)
    t.add_row("--model", *(b.model for b in BACKENDS.values()))
    for feature in FEATURES:
        t.add_row(feature, *(dict(b.features).get(feature, "?") for b in BACKENDS.values()))
    con.print(t)
