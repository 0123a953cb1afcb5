"""`ponder eval` (resumable logged runs) and what reads their logs: `plot`, `report`, `export`."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import typer
from rich.console import Console

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
    _fail_unwritable,
    _load_runs,
    _model_label,
    _model_sha256,
    _recipe_callback,
    _recipe_pairs,
    _warn,
    app,
    backend_help,
    strategy_help,
    verifier_help,
)
from ponder.errors import ConfigError, PonderError


@app.command("eval")
def eval_(
    ctx: typer.Context,
    dataset: str = typer.Option(..., "--dataset", "-d",
                                help="gsm8k | math500 | arith[:LEVEL] | rg:TASK[:k=v,...] | PATH.jsonl | "
                                     "hf:NAME[:split]"),
    strategy: str = typer.Option("vote", "--strategy", "-s", help=strategy_help()),
    n: int = typer.Option(8, "--n", "-n", help="Samples per problem (run once at the largest N you want)."),
    verifier: str | None = typer.Option(None, "--verifier", "-v",
                                        help="Scores every candidate (enables weighted and best-of-N curves): "
                                             + verifier_help()),
    seeds: int = typer.Option(1, "--seeds", help="Number of seeds (0..K-1) per problem."),
    limit: int | None = typer.Option(None, "--limit", help="First K problems only."),
    out: str | None = typer.Option(None, "--out", "-o", help="Run directory (default runs/DATASET-STRATEGY-nN)."),
    model: str | None = typer.Option(None, "--model", "-m"),
    backend: str = typer.Option("llamacpp", "--backend", help=backend_help()),
    backend_option: list[str] = typer.Option([], "--backend-option", "-O", help=BACKEND_OPTION_HELP),
    base_url: str | None = typer.Option(None, "--base-url"),
    api_key: str | None = typer.Option(None, "--api-key", envvar="PONDER_API_KEY"),
    temperature: float = typer.Option(0.7, "--temperature", "-t"),
    max_tokens: int = typer.Option(512, "--max-tokens"),
    budget_tokens: int | None = typer.Option(None, "--budget-tokens", help="Per-problem generated-token cap."),
    concurrency: int = typer.Option(1, "--concurrency",
                                    help="Problems in flight at once; above 1 their samples share backend "
                                         "batches (more throughput; per-problem wall then includes sharing)."),
    question_field: str | None = typer.Option(None, "--question-field"),
    answer_field: str | None = typer.Option(None, "--answer-field"),
    width: int | None = typer.Option(None, "--width", help="Search: beam width M."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Search: depth limit."),
    step_tokens: int | None = typer.Option(None, "--step-tokens", help="Search: max tokens per step."),
    aggregate: str | None = typer.Option(None, "--aggregate", help="Search: last | min | prod | mean."),
    option: list[str] = typer.Option([], "--option", help=OPTION_HELP),
    instruction: str | None = typer.Option(None, "--instruction", help=INSTRUCTION_HELP),
    policy: str | None = typer.Option(None, "--policy",
                                      help="With --strategy policy or auto: a fit-policy file (difficulty → samples)."),
    recipe: str | None = typer.Option(None, "--recipe", help=RECIPE_HELP, is_eager=True,
                                      callback=_recipe_callback()),
    total_tokens: int | None = typer.Option(None, "--total-tokens",
                                            help="With --strategy policy or auto: generated tokens for the whole "
                                                 "run, shared by its questions."),
    total_flops: float | None = typer.Option(None, "--total-flops",
                                             help="With --strategy route: FLOPs for the whole run, shared by its "
                                                  "questions (a hard batch budget; route plans at its mean)."),
) -> None:
    """Run a strategy over a dataset, logging every candidate; resumes where a killed run stopped."""
    from ponder.eval.datasets import load_dataset
    from ponder.eval.runner import RunDir, run_settings
    from ponder.registry import builtin_strategies, strategy_spec

    try:
        if seeds < 1:
            raise ConfigError("seeds", seeds, "must be >= 1")
        gen_opts = _backend_options(_recipe_pairs(ctx, backend_option, "backend_options"))
        problems = load_dataset(dataset, limit=limit, question_field=question_field, answer_field=answer_field)
        out_dir = out or f"runs/{re.sub(r'[^A-Za-z0-9._=,-]+', '-', dataset).strip('-')}-{strategy}-n{n}"
        search = {"width": width, "max_steps": max_steps, "step_tokens": step_tokens, "aggregate": aggregate,
                  **_backend_options(_recipe_pairs(ctx, option), "option", "batch=2")}
        seed_list = list(range(seeds))
        total = len(problems) * len(seed_list)
        logged = [r for r in RunDir(out_dir).records() if r["seed"] in seed_list]
        already = len(logged)
        spec = strategy_spec(strategy)
        for key, value, unit in (("total_tokens", total_tokens, "tokens"), ("total_flops", total_flops, "flops")):
            if value is not None and spec.pool != unit:
                takes = [n for n, sp in builtin_strategies().items() if sp.pool == unit]
                raise ConfigError(key, value, f"works with --strategy {' or '.join(takes)}, not {strategy}")
        if policy:
            if not spec.options or "policy" not in spec.options.model_fields:
                raise ConfigError("policy", policy, f"works with --strategy policy or auto, not {strategy}")
            search["policy"] = policy
        # the questions this invocation runs share what the logged ones (a resumed run) left
        spent = {k: sum((r.get("usage") or {}).get(k) or 0 for r in logged)
                 for k in ("completion_tokens", "flops_estimate")}
        token_pool = flop_pool = None
        if total_tokens is not None:
            from ponder.allocation.pools import TokenPool

            token_pool = TokenPool(total_tokens, max(total - already, 1), spent=int(spent["completion_tokens"]))
        if total_flops is not None:
            from ponder.allocation.pools import FlopPool

            flop_pool = FlopPool(total_flops, max(total - already, 1), spent=spent["flops_estimate"])
        engine = _engine(strategy, n, verifier, model, backend, base_url, api_key, temperature, max_tokens,
                         budget_tokens, None, 0, concurrency, search=search, backend_options=gen_opts,
                         instruction=instruction, pool=token_pool or flop_pool)
        search["total_tokens"] = total_tokens
        search["total_flops"] = total_flops
        loaded = engine.generator
        if concurrency > 1:
            from ponder.backends.batching import BatchingGenerator

            engine = engine.with_generator(BatchingGenerator(engine.generator, window_s=0.05,
                                                             max_requests=concurrency))
        config = run_settings(engine, dataset=dataset, strategy=strategy, n=n, verifier=verifier,
                              model=_model_label(model, backend), backend=backend, limit=limit, search=search,
                              model_sha256=_model_sha256(model, backend))
        try:
            summary = _eval_with_progress(engine, problems, out_dir, seed_list, config, total, already)
        finally:
            _close(loaded)
    except ConfigError as e:
        _fail(e, 2)
    except (PonderError, ImportError) as e:
        _fail(e, 1)
    _warn(summary["log_issues"])
    if summary["logged"] == 0 and summary["errors"] > 0:
        _fail(PonderError(f"every problem of this invocation failed ({summary['errors']}); see "
                          f"{out_dir}/errors.jsonl, then rerun the same command to retry them"), 1)
    con = Console(soft_wrap=True)
    con.print(f"{out_dir}: {summary['logged']} logged now, {summary['skipped']} already there, "
              f"{summary['errors']} failed (retried on the next run); "
              f"see: ponder report {out_dir}", highlight=False)
    for pool, unit in ((token_pool, "generated tokens"), (flop_pool, "FLOPs")):
        if pool is not None:  # resumed: the logged questions' spend counts too
            con.print(f"run budget: {pool.total - pool.left:.4g} of {pool.total:.4g} {unit} spent", highlight=False)


def _eval_with_progress(engine, problems, out_dir, seeds, config, total, already):
    """Run the eval with progress: a bar on a terminal, a plain line every 30 s elsewhere (nohup, CI)."""
    import time

    from ponder.cli.progress import progress_lines
    from ponder.eval.runner import run_eval

    stats = {"done": 0, "correct": 0, "tokens": 0, "t0": time.perf_counter()}
    with progress_lines() as make:
        bar = make("eval", total)
        bar.update(already, force=True)
        acc = "acc_new" if already else "acc"  # a resumed run's rate covers only this session's records

        def on_record(rec):
            stats["done"] += 1
            stats["correct"] += bool(rec["correct"])
            stats["tokens"] += rec["usage"]["completion_tokens"] or 0
            dt = time.perf_counter() - stats["t0"]
            bar.update(already + stats["done"], **{acc: f"{100 * stats['correct'] / stats['done']:.1f}%"},
                       tok_s=f"{stats['tokens'] / dt:.0f}")

        return asyncio.run(_closing(run_eval(engine, problems, out_dir, seeds=seeds, config=config,
                                             scorer=engine.verifier, on_record=on_record), engine.generator))


def _folder_exists(out: str) -> None:
    """An output whose folder does not exist is a typo, not a folder to create: exit 2 saying so."""
    parent = Path(out).expanduser().parent
    if not parent.is_dir():
        _fail(ConfigError("out", out, f"its folder {parent} does not exist (create it first)"), 2)


DIFFICULTY_HELP = ("A run of independent samples among RUNS whose last --held-back samples set each problem's "
                   "difficulty level (1 easiest … 5 none right); those samples are not scored. For sets without "
                   "levels (GSM8K), or to bin by how hard a problem is for a model.")
HELD_BACK_HELP = "With --difficulty: how many of its samples set the level (default a quarter of them)."


def _held_back(runs, difficulty: str, held_back: int | None) -> int:
    """--held-back, or a quarter of the difficulty run's samples (at least 1)."""
    if held_back is not None:
        return held_back
    recs: list = next((recs for label, recs in runs if label == Path(difficulty).name), [])
    return max(1, min((len(r.get("candidates") or ()) for r in recs), default=0) // 4)


def _with_difficulty(loaded, runs: list[str], difficulty: str | None, held_back: int | None):
    """The runs with levels from --difficulty's held-back samples (`ponder.eval.frontier.held_back_levels`)."""
    from ponder.eval.frontier import held_back_levels

    if difficulty is None:
        if held_back is not None:
            _fail(ConfigError("held_back", held_back, "needs --difficulty RUN"), 2)
        return loaded
    if Path(difficulty).name not in {Path(r).name for r in runs}:
        _fail(ConfigError("difficulty", difficulty, "must be one of the run directories given"), 2)
    try:
        return held_back_levels(loaded, Path(difficulty).name, _held_back(loaded, difficulty, held_back))
    except ConfigError as e:
        _fail(e, 2)


@app.command()
def plot(runs: list[str] = typer.Argument(..., help="Run directories."),
         out: str = typer.Option("curves.png", "--out", "-o",
                                 help="PNG file (its folder must exist)."),
         frontier: bool = typer.Option(False, "--frontier",
                                       help="Accuracy against compute for all runs with the compute-optimal "
                                            "frontier, one panel per difficulty level."),
         x: str = typer.Option("flops", "--x", help="With --frontier: flops | tokens | wall."),
         difficulty: str | None = typer.Option(None, "--difficulty", help=DIFFICULTY_HELP),
         held_back: int | None = typer.Option(None, "--held-back", help=HELD_BACK_HELP)) -> None:
    """Plot accuracy vs N and vs generated tokens for one or more runs (or the frontier across them)."""
    from ponder.eval.frontier import X_AXES, points_by_level
    from ponder.eval.plots import plot_curves, plot_frontier

    if x not in X_AXES:
        _fail(ConfigError("x", x, f"must be one of {', '.join(X_AXES)}"), 2)
    _folder_exists(out)
    loaded = _with_difficulty(_load_runs(runs), runs, difficulty, held_back)
    try:
        path = plot_frontier(points_by_level(loaded), out, x=x) if frontier else plot_curves(loaded, out)
    except OSError as e:
        _fail_unwritable(out, e)
    Console(soft_wrap=True).print(str(path), highlight=False)


@app.command()
def report(runs: list[str] = typer.Argument(..., help="Run directories."),
           out: str | None = typer.Option(None, "--out", "-o",
                                          help="Directory (default: RUN/report; created, its parent must exist)."),
           difficulty: str | None = typer.Option(None, "--difficulty", help=DIFFICULTY_HELP),
           held_back: int | None = typer.Option(None, "--held-back", help=HELD_BACK_HELP)) -> None:
    """Write report.md and a self-contained report.html with curves and tables."""
    from ponder.eval.report import write_report

    if out is not None:
        _folder_exists(out)
    loaded = _load_runs(runs)
    note = None
    if difficulty is not None:
        from ponder.eval.frontier import LEVEL_RULE

        held_back = _held_back(loaded, difficulty, held_back)
        note = (f"Levels are difficulty from {Path(difficulty).name}'s last {held_back} samples of each problem, "
                f"which are not scored ({LEVEL_RULE}).")
    loaded = _with_difficulty(loaded, runs, difficulty, held_back)
    try:
        paths = write_report(loaded, out or f"{runs[0]}/report", levels_note=note)
    except OSError as e:
        _fail_unwritable(out or f"{runs[0]}/report", e)
    Console(soft_wrap=True).print(f"{paths['md']}\n{paths['html']}", highlight=False)


@app.command()
def export(run: str = typer.Argument(..., help="A run directory."),
           fmt: str = typer.Option("sft", "--format", "-f", help="sft | preference"),
           out: str = typer.Option(..., "--out", "-o",
                                   help="Output JSONL file (its folder must exist).")) -> None:
    """Export training data from a run's log (best answers for SFT, best vs worst pairs)."""
    from ponder.eval.export import export as do_export

    _folder_exists(out)
    try:
        k = do_export(_load_runs([run])[0][1], fmt, out)
    except ConfigError as e:
        _fail(e, 2)
    except OSError as e:
        _fail_unwritable(out, e)
    Console(soft_wrap=True).print(f"{k} examples → {out}", highlight=False)
    if k == 0:
        from ponder.eval.export import why_none

        _warn([f"no examples: {why_none(_load_runs([run])[0][1], fmt)}"])
