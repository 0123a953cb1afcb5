"""`ponder distill`: train a model on what test-time compute found in eval logs (or on samples it draws
first), convert it for llama.cpp and register it by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from ponder.cli.common import _fail, app
from ponder.errors import ConfigError, PonderError

MODES_HELP = ("verified: samples whose answer matches the reference (needs references) | majority: samples that "
              "agree with a clear majority (no labels) | teacher: another model's samples that agree with what its "
              "run chose (give that model's logs, and --base)")


def _default_base(runs: list[str], mode: str) -> str | None:
    """The model the logs were sampled with, when they agree and the mode learns from the model's own
    samples."""
    import json

    if not runs or mode == "teacher":
        return None
    models = set()
    for r in runs:
        try:
            models.add(json.loads((Path(r) / "run.json").read_text()).get("model"))
        except (OSError, ValueError):
            models.add(None)
    return models.pop() if len(models) == 1 and None not in models else None


@app.command()
def distill(
    runs: list[str] = typer.Argument(None, help="Eval run directories to learn from (ponder eval --out DIR)."),
    name: str = typer.Option(..., "--name", help="Register the model under this name (ponder models lists it; "
                                                  "--model NAME loads it in ask, eval, serve and as a route or "
                                                  "cascade arm)."),
    mode: str = typer.Option("verified", "--mode", help=MODES_HELP),
    base: str | None = typer.Option(None, "--base",
                                    help="The student: a packaged or distilled model (default: the logs' model; "
                                         "required with --mode teacher)."),
    dataset: str | None = typer.Option(None, "--dataset", "-d",
                                       help="Sample this set first when no logs are given, and again in every "
                                            "later round (e.g. gsm8k-train[0:500], arith:seed=10[0:200])."),
    n: int = typer.Option(8, "--n", "-n", help="Samples per question when sampling."),
    rounds: int = typer.Option(1, "--rounds", help="Rounds of sample → select → train (expert iteration)."),
    per_question: int = typer.Option(2, "--per-question", help="At most this many examples per question "
                                                               "(the shortest qualifying samples)."),
    min_agreement: float = typer.Option(0.5, "--min-agreement",
                                        help="majority: the winner's share of the answered samples."),
    val_fraction: float = typer.Option(0.1, "--val-fraction", help="Share of questions held out for the "
                                                                   "validation loss."),
    epochs: float = typer.Option(2.0, "--epochs", help="Passes over the training examples."),
    learning_rate: float = typer.Option(2e-4, "--lr", help="Peak learning rate of the LoRA adapter (warm-up, "
                                                           "then cosine decay)."),
    lora_r: int = typer.Option(16, "--lora-r", help="LoRA rank (alpha is twice it)."),
    batch_size: int = typer.Option(4, "--batch-size", help="Examples per batch."),
    grad_accum: int = typer.Option(2, "--grad-accum", help="Batches per optimizer step."),
    max_length: int = typer.Option(1024, "--max-length", help="Longer examples (tokens) are left out."),
    quant: str = typer.Option("q8_0", "--quant", help="GGUF quantisation: q8_0 | f16 | bf16 | q6_k | q5_k_m | "
                                                      "q4_k_m (coarse ones can erase small LoRA updates)."),
    eval_dataset: str | None = typer.Option(None, "--eval", help="After each round, greedy accuracy on this "
                                                                 "held-out set (e.g. gsm8k[0:200])."),
    seed: int = typer.Option(0, "--seed", help="Seeds the validation split and training."),
    out: str | None = typer.Option(None, "--out", "-o", help="Working folder (default runs/distill/NAME); "
                                                             "rerun the same command to resume."),
    temperature: float = typer.Option(0.7, "--temperature", "-t", help="Sampling temperature."),
    max_tokens: int = typer.Option(512, "--max-tokens"),
    concurrency: int = typer.Option(2, "--concurrency", help="Questions sampled at once."),
) -> None:
    """Search, then learn: fine-tune a model (LoRA) on the samples its test-time compute got right, so one
    sample does more of what many did; converted to GGUF and registered under --name."""
    from ponder.cli.progress import progress_lines
    from ponder.distill.data import Selection
    from ponder.distill.pipeline import Plan, run
    from ponder.distill.train import TrainConfig
    from ponder.models import DEFAULT_MODEL, check_local_name

    runs = list(runs or [])
    con = Console(stderr=True, soft_wrap=True)
    try:
        student = base or _default_base(runs, mode)
        if student is None:
            if mode == "teacher":
                raise ConfigError("base", None, "teacher mode trains another model than the logs': name it with "
                                                "--base (e.g. qwen2.5-coder-0.5b)")
            student = DEFAULT_MODEL if not runs else None
        if student is None:
            raise ConfigError("base", None, "the logs do not name one model; give --base")
        plan = Plan(name=name, out=out or f"runs/distill/{name}", base=student, runs=tuple(runs), dataset=dataset,
                    n=n, rounds=rounds,
                    selection=Selection(mode=mode, per_question=per_question, min_agreement=min_agreement,
                                        val_fraction=val_fraction, seed=seed),
                    train=TrainConfig(epochs=epochs, learning_rate=learning_rate, lora_r=lora_r, lora_alpha=2 * lora_r,
                                      batch_size=batch_size, grad_accum=grad_accum, max_length=max_length,
                                      seed=seed),
                    quant=quant, eval_dataset=eval_dataset, temperature=temperature, max_tokens=max_tokens,
                    concurrency=concurrency)
        check_local_name(name)  # before hours of work, not after
        with progress_lines() as make:
            bars: dict[str, Any] = {}

            def report(e: dict[str, Any]) -> None:
                kind = e.get("event")
                if kind == "stage":
                    bars.clear()
                    con.print(e["text"], highlight=False)
                elif kind in ("sample", "eval"):
                    bar = bars.get(kind) or bars.setdefault(kind, make("sampling" if kind == "sample" else "eval",
                                                                        e["total"]))
                    bar.update(e["done"])
                elif "step" in e:
                    bar = bars.get("train") or bars.setdefault("train", make("training", e["steps"]))
                    bar.update(e["step"], loss=f"{e['loss']:.3f}" if "loss" in e else None,
                               val_loss=f"{e['eval_loss']:.3f}" if "eval_loss" in e else None)

            state = run(plan, report)
    except ConfigError as e:
        _fail(e, 2)
    except (PonderError, ImportError, OSError) as e:
        _fail(e, 1)
    _print_summary(state)


def _print_summary(state: dict[str, Any]) -> None:
    from rich.table import Table

    t = Table(title=f"ponder distill: {state['name']}", show_edge=False)
    for col in ("round", "model", "examples", "val loss before → after", "train TFLOP", "sample acc", "eval acc"):
        t.add_column(col, justify="left" if col == "model" else "right", no_wrap=col == "model")
    for r in state["rounds"]:
        tr, sel = r["train"], r["selection"]
        before, after = tr.get("val_loss_before"), tr.get("val_loss_after")
        loss = f"{before:.3f} → {after:.3f}" if before is not None and after is not None else "—"
        acc = r.get("sample_accuracy")
        ev = (r.get("eval") or {}).get("greedy_accuracy")
        t.add_row(str(r["round"]), r["model"], str(sel["train_examples"]), loss, f"{tr['flops'] / 1e12:.1f}",
                  f"{100 * acc:.1f}%" if acc is not None else "—", f"{100 * ev:.1f}%" if ev is not None else "—")
    con = Console(soft_wrap=True)
    con.print(t)
    last = state["rounds"][-1]
    con.print(f"use it: ponder ask \"QUESTION\" --model {state['name']}   ({last['gguf']})", highlight=False)
