"""`ponder recipes`: the recipes shipped with ponder (ponder.recipes), to use with --recipe NAME."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from ponder.cli.common import _fail, app
from ponder.errors import ConfigError


@app.command("recipes")
def recipes_cmd(name: str | None = typer.Argument(None, help="Print this recipe's file.")) -> None:
    """List the shipped recipes (or print one) for ask/eval/serve --recipe NAME."""
    from ponder.recipes import load_recipe, shipped

    files = shipped()
    if name is not None:
        if name not in files:
            _fail(ConfigError("name", name, f"not a shipped recipe ({', '.join(sorted(files))})"), 2)
        typer.echo(files[name].read_text(encoding="utf-8"), nl=False)
        return
    t = Table(show_edge=False)
    for col in ("name", "model", "strategy", "description"):
        t.add_column(col)
    for key in sorted(files):
        r = load_recipe(str(files[key]))
        t.add_row(key, r.model or "", f"{r.strategy} n={r.n}" if r.n else r.strategy, r.description)
    Console(soft_wrap=True).print(t)
