"""Reports: a Markdown file and a self-contained HTML page (plots embedded) from eval logs.

Both show, per run, the strategy's own accuracy and cost, how well its verifier ranked right above
wrong candidates (metrics.ranking), and a table of accuracy at N = 1, 2, 4, …
for each selection method with its 95% bootstrap interval, generated tokens and wall per problem.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ponder.eval.frontier import fmt_compute, frontier, name, optimal_table, own_point, points_by_level
from ponder.eval.metrics import METHODS, curve, ranking, summary
from ponder.eval.plots import Run, plot_curves, plot_frontier, plot_levels
from ponder.voting import is_iid


def _fmt(x: Any, spec: str = ".1f") -> str:
    return "—" if x is None else format(x, spec)


def tables(runs: Sequence[Run], *, subsamples: int = 64, seed: int = 0) -> list[dict[str, Any]]:
    """Per run: its summary and its rows — a curve over N for a log of independent samples, else one
    row, the strategy's own answers at the samples it drew (mean per problem)."""
    def rows(recs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return curve(recs, methods=METHODS, subsamples=subsamples, seed=seed) if is_iid(recs) else _own_row(recs, seed)
    return [{"label": label, "summary": summary(recs), "ranking": ranking(recs), "rows": rows(recs)}
            for label, recs in runs]


def _own_row(records: Sequence[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    pts = own_point("", records, seed=seed, bootstrap=1000)
    if not pts:
        return []
    p = pts[0]
    return [{"method": f"{p['method']} (own answers)", "n": f"{p['samples']:.1f} (mean)",
             "accuracy": p["accuracy"], "ci_low": p["ci_low"], "ci_high": p["ci_high"], "tokens": p["tokens"],
             "wall_s": p["wall"]}]


def _ranking(rk: dict[str, Any]) -> str:
    if rk["auroc"] is None:
        return ""
    return (f" Verifier ranking: a right candidate outscored a wrong one of the same problem in "
            f"{100 * rk['auroc']:.0f}% of {rk['pairs']} pairs ({rk['problems']} problems with both; 50% is "
            f"chance, below it best-of-N picks worse than one sample).")


def _md_table(t: dict[str, Any]) -> str:
    s = t["summary"]
    lines = [f"### {t['label']}", "",
             f"{s['problems']} problems, {s['records']} records; the strategy's own answers: accuracy "
             f"**{_fmt(None if s['accuracy'] is None else 100 * s['accuracy'])}%**, "
             f"{_fmt(s['tokens_per_problem'], '.0f')} generated tokens and "
             f"{_fmt(s['wall_s_per_problem'], '.1f')} s per problem, {s['no_answer']} without an answer."
             + _ranking(t["ranking"]), "",
             "| method | N | accuracy % | 95% CI | tokens / problem | latency s / problem |",
             "|---|---|---|---|---|---|"]
    for r in t["rows"]:
        lines.append(f"| {r['method']} | {r['n']} | {100 * r['accuracy']:.1f} | "
                     f"{100 * r['ci_low']:.1f}–{100 * r['ci_high']:.1f} | {_fmt(r['tokens'], '.0f')} | "
                     f"{_fmt(r['wall_s'], '.1f')} |")
    return "\n".join(lines)


def _html_table(t: dict[str, Any]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("method", "N", "accuracy %", "95% CI", "tokens / problem",
                                               "latency s / problem"))
    body = "".join(
        f"<tr><td>{r['method']}</td><td>{r['n']}</td><td>{100 * r['accuracy']:.1f}</td>"
        f"<td>{100 * r['ci_low']:.1f}–{100 * r['ci_high']:.1f}</td><td>{_fmt(r['tokens'], '.0f')}</td>"
        f"<td>{_fmt(r['wall_s'], '.1f')}</td></tr>" for r in t["rows"])
    s = t["summary"]
    acc = _fmt(None if s["accuracy"] is None else 100 * s["accuracy"])
    return (f"<h3>{html.escape(t['label'])}</h3><p>{s['problems']} problems, {s['records']} records; "
            f"the strategy's own answers: accuracy <b>{acc}%</b>, {_fmt(s['tokens_per_problem'], '.0f')} "
            f"generated tokens per problem.{html.escape(_ranking(t['ranking']))}</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def frontier_md(by_level: dict[Any, list[dict[str, Any]]], levels_note: str | None = None) -> str:
    """The frontier over all problems and the per-level compute-optimal table, as Markdown
    (`levels_note`: what the levels are, when they are not the dataset's own)."""
    env = frontier(by_level["all"], "flops")
    lines = ["## Compute-optimal frontier", "",
             "Points on the upper envelope of accuracy against FLOPs per problem (no cheaper point is as "
             "accurate), over all problems:", "",
             "| run · method@N | accuracy % | 95% CI | FLOPs / problem | tokens / problem | wall s / problem |",
             "|---|---|---|---|---|---|"]
    for p in env:
        lines.append(f"| {name(p)} | {100 * p['accuracy']:.1f} | {100 * p['ci_low']:.1f}–{100 * p['ci_high']:.1f} "
                     f"| {fmt_compute(p['flops'])} | {_fmt(p['tokens'], '.0f')} | {_fmt(p['wall'], '.1f')} |")
    levels = [k for k in by_level if k != "all"]
    if levels:
        lines += ["", "### Best choice per difficulty level and FLOP budget", "",
                  "Each cell: the most accurate run · method@N whose FLOPs per problem fit the budget, "
                  "with its accuracy on that level." + (f" {levels_note}" if levels_note else ""), "",
                  "| FLOPs budget | " + " | ".join(f"level {lv}" for lv in levels) + " | all |",
                  "|---|" + "---|" * (len(levels) + 1)]
        for row in optimal_table(by_level, "flops"):
            cells = [f"{name(row[k])}: {100 * row[k]['accuracy']:.0f}%" if row[k] else "—" for k in (*levels, "all")]
            lines.append(f"| {fmt_compute(row['budget'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{path.stem}" src="data:image/png;base64,{data}" style="max-width:100%">'


def write_report(runs: Sequence[Run], out_dir: str | os.PathLike, *, subsamples: int = 64,
                 seed: int = 0, levels_note: str | None = None) -> dict[str, Path]:
    """Write report.md, report.html and the PNG plots into out_dir; return their paths. `levels_note`
    says what the records' levels are when they are not the dataset's (`held_back_levels`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    curves = plot_curves(runs, out / "curves.png", subsamples=subsamples, seed=seed)
    levels = plot_levels(runs, out / "levels.png", subsamples=subsamples, seed=seed)
    ts = tables(runs, subsamples=subsamples, seed=seed)
    md = ["# ponder evaluation report", "", "![accuracy vs compute](curves.png)", ""]
    if levels:
        md += ["![accuracy per difficulty level](levels.png)", "", *([levels_note, ""] if levels_note else [])]
    md += ["Accuracy at N is estimated from each run's log by subsampling N of its candidates "
           "(majority vote, verifier-weighted vote, naive best-of-N by score, and oracle pass@N); "
           "intervals are 95% percentile bootstraps over problems. Latency at N is the run's per-problem "
           "wall time × N / N_max (with --concurrency above 1 it includes time shared with other problems).",
           ""]
    md += [_md_table(t) + "\n" for t in ts]
    front = None
    if len(runs) > 1:
        by_level = points_by_level(runs, subsamples=subsamples, seed=seed)
        if any(p.get("flops") is not None for p in by_level["all"]):
            front = plot_frontier(by_level, out / "frontier.png")
            md += ["![accuracy vs FLOPs: the compute-optimal frontier](frontier.png)", "",
                   frontier_md(by_level, levels_note), ""]
    (out / "report.md").write_text("\n".join(md), encoding="utf-8")
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
             "text-align:right}th{background:#f3f3f3}")
    body = [f"<h1>ponder evaluation report</h1>{_img(curves)}"]
    if levels:
        body.append(_img(levels))
        if levels_note:
            body.append(f"<p>{html.escape(levels_note)}</p>")
    body += [_html_table(t) for t in ts]
    if front is not None:
        table = html.escape(frontier_md(by_level, levels_note))
        body.append(f"<h2>Compute-optimal frontier</h2>{_img(front)}<pre>{table}</pre>")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>ponder report</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")
    (out / "report.html").write_text(page, encoding="utf-8")
    paths = {"md": out / "report.md", "html": out / "report.html", "curves": curves}
    if levels:
        paths["levels"] = levels
    if front is not None:
        paths["frontier"] = front
    return paths
