"""`ponder fit-policy`, `fit-stop`, `fit-route`: allocation fitted from eval logs."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from ponder.cli.common import (
    _fail,
    _fail_unwritable,
    _load_runs,
    app,
)
from ponder.errors import ConfigError


@app.command("fit-policy")
def fit_policy_cmd(runs: list[str] = typer.Argument(..., help="Eval runs with many samples per question "
                                                              "(their records are pooled)."),
                   out: str = typer.Option("policy.json", "--out", "-o"),
                   probe: int = typer.Option(4, "--probe", help="Samples drawn before deciding."),
                   tolerance: float = typer.Option(0.02, "--tolerance",
                                                   help="Accuracy a bin may give up for fewer samples."),
                   mix: list[str] = typer.Option([], "--mix", help="A `--strategy revise` eval run on the same "
                                                 "questions (repeatable): a bin may take it instead of more "
                                                 "votes, which is how the policy picks the parallel/sequential "
                                                 "ratio.")) -> None:
    """Fit a difficulty predictor and per-difficulty sample counts from eval logs."""
    from ponder.allocation.policy import fit_policy
    from ponder.eval.runner import RunDir

    try:
        mixes = []
        for m, (_, recs) in zip(mix, _load_runs(mix) if mix else []):
            cfg = RunDir(m).config() or {}
            action = {"strategy": cfg.get("strategy"), "n": cfg.get("n"),
                      "options": {k: v for k, v in (cfg.get("search") or {}).items()
                                  if k not in ("width", "max_steps", "step_tokens", "aggregate")}}
            mixes.append((action, recs))
        records = [r for _, recs in _load_runs(runs) for r in recs]
        pol = fit_policy(records, probe=probe, tolerance=tolerance, mixes=mixes)
    except ConfigError as e:
        _fail(e, 2)
    try:
        pol.save(out)
    except OSError as e:
        _fail_unwritable(out, e)
    con = Console(soft_wrap=True)
    t = Table(title=f"policy → {out}", show_edge=False)
    for col in ("difficulty", "questions", "samples", "strategy", "accuracy on the log", "tokens / question"):
        t.add_column(col)
    for b, v in pol.bins.items():
        a = v.get("action")
        how = "vote" if a is None else f"{a['strategy']} " + " ".join(f"{k}={x}" for k, x in a["options"].items())
        t.add_row(b, str(v["count"]), str(v["n"]), how, f"{100 * v['accuracy']:.1f}%", f"{v['tokens']:.0f}")
    con.print(t)


@app.command("fit-stop")
def fit_stop_cmd(runs: list[str] = typer.Argument(..., help="Eval runs of self-consistency (vote) with many "
                                                            "samples per question, e.g. -n 16 -v confidence."),
                 out: str = typer.Option("stop.json", "--out", "-o"),
                 round_size: int = typer.Option(2, "--round", help="Samples per round after the first."),
                 min_samples: int = typer.Option(2, "--min-samples", help="Samples before the rule is asked."),
                 max_drop: float = typer.Option(0.005, "--max-drop",
                                                help="Share of questions whose answer may differ from "
                                                     "self-consistency at the log's N (with --target outcome: "
                                                     "accuracy it may give up; 0.005 = half a point)."),
                 target: str = typer.Option("answer", "--target",
                                            help="answer: stop once the vote's answer is settled; outcome: also "
                                                 "when more samples would not make it right (saves more where "
                                                 "it was fitted, transfers worse)."),
                 l2: float = typer.Option(1.0, "--l2", help="L2 regularisation of the logistic model.")) -> None:
    """Fit a stopping rule for --strategy auto from eval logs (fit on one split, report on another)."""
    from ponder.allocation.stopping import FEATURES, fit_stop_rule

    try:
        records = [r for _, recs in _load_runs(runs) for r in recs]
        rule = fit_stop_rule(records, round_size=round_size, min_samples=min_samples, max_drop=max_drop, l2=l2,
                             target=target)
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
              f"confidence {'used' if rule.uses_scores else 'absent'}; target {target}")
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
    from ponder.allocation.route_table import fit_route, method_of
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
    for col in ("bin", "model", "N", "selection", "accuracy on the fitting log", "FLOPs / question"):
        t.add_column(col)
    for b in table.fitted_on["predicted_bins"]:
        arm, _ = table.choose(b, None)
        if arm is not None:
            c = arm["bins"][b]
            t.add_row(b, arm["model"], str(arm["n"]), method_of(arm), f"{100 * c['accuracy']:.1f}%",
                      fmt_compute(c["flops"]))
    con.print(t)
