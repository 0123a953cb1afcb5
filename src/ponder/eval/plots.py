"""Scaling plots, pure functions of eval logs (matplotlib, no display needed).

`plot_curves`: accuracy against N (log2 axis) and against generated tokens per problem, one line per
run × selection method, with bootstrap bands. `plot_levels`: one panel per difficulty level. A run
whose log is not independent samples (search, adaptive stopping) is one star: its own answers at the
samples it drew (mean per problem), with its interval.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ponder.eval.frontier import own_point
from ponder.eval.metrics import METHODS, by_level, curve
from ponder.voting import is_iid

Run = tuple[str, Sequence[dict[str, Any]]]
_STYLE = {"majority": "-", "weighted": "--", "naive": ":", "oracle": "-."}


class _Figures:
    """matplotlib's object-oriented API: `Figure` objects render to files without pyplot, so drawing
    a plot never selects a backend or touches global figure state (a notebook's own backend stays)."""

    def __init__(self) -> None:
        try:
            import matplotlib
            from matplotlib.figure import Figure
        except ImportError as e:
            raise ImportError("plots need matplotlib: pip install ponder[eval]") from e
        self.rcParams = matplotlib.rcParams
        self._figure = Figure

    def subplots(self, *args: Any, figsize: tuple[float, float], **kw: Any) -> tuple[Any, Any]:
        fig = self._figure(figsize=figsize)
        return fig, fig.subplots(*args, **kw)

    def close(self, fig: Any) -> None:
        """Nothing to release: the figure is not registered anywhere."""


def _plt() -> Any:
    return _Figures()


def _accuracy_axes(fig: Any) -> None:
    """Accuracy axes span at least 10 points inside [0, 100] (%): an all-zero run is drawn on 0–10, not on
    matplotlib's automatic −0.04 to 0.04."""
    for ax in fig.axes:
        lo, hi = ax.get_ylim()
        lo, hi = max(lo, -2.0), min(hi, 102.0)
        if hi - lo < 10:
            lo = max(-2.0, min(lo, 92.0))
            hi = lo + 10
        ax.set_ylim(lo, hi)


def _draw(ax: Any, rows: list[dict[str, Any]], x: str, label: str, color: Any, methods: Sequence[str],
          method_colors: dict[str, Any] | None = None) -> None:
    """One line per method; one colour per run, or per method when method_colors is given."""
    for m in methods:
        pts = [r for r in rows if r["method"] == m and r[x] is not None]
        if not pts:
            continue
        xs = [r[x] for r in pts]
        c = method_colors[m] if method_colors else color
        ax.plot(xs, [100 * r["accuracy"] for r in pts], _STYLE.get(m, "-"), marker="o", ms=3,
                color=c, label=m if method_colors else f"{label} · {m}")
        color = c
        ax.fill_between(xs, [100 * r["ci_low"] for r in pts], [100 * r["ci_high"] for r in pts],
                        color=color, alpha=0.12, linewidth=0)


def _star(ax: Any, records: Sequence[dict[str, Any]], x: str, label: str, color: Any, seed: int) -> None:
    """A run that is one point: its own accuracy at its mean samples (x="n") or tokens per problem."""
    pts = own_point(label, records, seed=seed, bootstrap=1000)
    if not pts:
        return
    p = pts[0]
    at = p["samples"] if x == "n" else p["tokens"]
    if at is None:
        return
    acc, lo, hi = 100 * p["accuracy"], 100 * p["ci_low"], 100 * p["ci_high"]
    ax.errorbar([at], [acc], yerr=[[acc - lo], [hi - acc]], fmt="*", ms=10, color=color, capsize=3,
                label=f"{label} · {p['method']}")


def plot_curves(runs: Sequence[Run], out: str | os.PathLike, *, methods: Sequence[str] = METHODS,
                subsamples: int = 64, seed: int = 0) -> Path:
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    by_method = {m: colors[i % len(colors)] for i, m in enumerate(methods)} if len(runs) == 1 else None
    for i, (label, records) in enumerate(runs):
        if not is_iid(records):
            _star(a1, records, "n", label, colors[i % len(colors)], seed)
            _star(a2, records, "tokens", label, colors[i % len(colors)], seed)
            continue
        rows = curve(records, methods=methods, subsamples=subsamples, seed=seed)
        _draw(a1, rows, "n", label, colors[i % len(colors)], methods, by_method)
        _draw(a2, rows, "tokens", label, colors[i % len(colors)], methods, by_method)
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    a1.set_xscale("log", base=2)
    a1.xaxis.set_major_formatter(plain)
    a1.set_xlabel("N (samples per problem)")
    a2.set_xscale("log")
    a2.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    a2.xaxis.set_major_formatter(plain)
    a2.xaxis.set_minor_formatter(NullFormatter())
    a2.set_xlabel("generated tokens per problem")
    if len(runs) == 1:
        fig.suptitle(f"{runs[0][0]}: accuracy vs test-time compute (bands: 95% bootstrap CI over problems)",
                     fontsize=10)
    for ax in (a1, a2):
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
    a1.legend(fontsize=7, loc="best")
    if len(runs) != 1:
        fig.suptitle("accuracy vs test-time compute (bands: 95% bootstrap CI over problems)", fontsize=10)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _accuracy_axes(fig)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_levels(runs: Sequence[Run], out: str | os.PathLike, *, methods: Sequence[str] = ("majority", "oracle"),
                subsamples: int = 64, seed: int = 0) -> Path | None:
    """One panel per difficulty level; None when no run has levels."""
    per_run = [(label, recs, by_level(recs, methods=methods, subsamples=subsamples, seed=seed) if is_iid(recs)
                else None) for label, recs in runs]  # None: one point per level, not a curve
    levels = sorted({lvl for _, recs in runs for r in recs if (lvl := r.get("level")) is not None})
    if not levels:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(levels), figsize=(3.2 * len(levels), 3.4), sharey=True, squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, lvl in zip(axes[0], levels):
        for i, (label, recs, d) in enumerate(per_run):
            if d is not None:
                _draw(ax, d.get(lvl, []), "n", label, colors[i % len(colors)], methods)
            else:
                _star(ax, [r for r in recs if r.get("level") == lvl], "n", label, colors[i % len(colors)], seed)
        ax.set_title(f"level {lvl}", fontsize=9)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("N")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy (%)")
    axes[0][-1].legend(fontsize=6)
    fig.tight_layout()
    out = Path(out)
    _accuracy_axes(fig)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_frontier(by_level: dict[Any, list[dict[str, Any]]], out: str | os.PathLike, *, x: str = "flops") -> Path:
    """Accuracy against compute for every run's points (one line per run × method), with the
    compute-optimal frontier drawn over them and its points labelled; one panel for all problems and
    one per difficulty level (`ponder.eval.frontier.points_by_level`)."""
    from matplotlib.ticker import NullFormatter

    from ponder.eval.frontier import frontier, name

    plt = _plt()
    panels = list(by_level)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 if len(panels) == 1 else 3.6 * len(panels), 4.2),
                             sharey=True, squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    runs = sorted({p["run"] for pts in by_level.values() for p in pts})
    color = {r: colors[i % len(colors)] for i, r in enumerate(runs)}
    xlabel = {"flops": "FLOPs per problem", "tokens": "generated tokens per problem",
              "wall": "wall seconds per problem"}[x]
    for ax, lvl in zip(axes[0], panels):
        pts = [p for p in by_level[lvl] if p.get(x) is not None]
        for (run, method), group in _groups(pts).items():
            group.sort(key=lambda p: p[x])
            ax.plot([p[x] for p in group], [100 * p["accuracy"] for p in group], _STYLE.get(method, "-"),
                    marker="o" if group[0]["n"] is not None else "*", ms=3 if group[0]["n"] is not None else 9,
                    color=color[run], alpha=0.8,
                    label=f"{run} · {method}" if lvl == panels[0] else None)
        env = frontier(pts, x)
        if env:
            xs = [p[x] for p in env] + [max(p[x] for p in pts)]
            ys = [100 * p["accuracy"] for p in env] + [100 * env[-1]["accuracy"]]
            ax.step(xs, ys, where="post", color="black", linewidth=1.6, alpha=0.7,
                    label="compute-optimal frontier" if lvl == panels[0] else None)
            for p in env:
                ax.annotate(name(p).split(" · ")[-1] if p["n"] is not None else p["method"],
                            (p[x], 100 * p["accuracy"]), fontsize=6, xytext=(2, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # labelled minor ticks overlap over a short range
        ax.set_title("all problems" if lvl == "all" else f"level {lvl}", fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy (%)")
    fig.legend(fontsize=6, loc="lower center", ncol=min(4, max(1, len(runs) * 2)), frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _accuracy_axes(fig)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _groups(pts: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for p in pts:
        out.setdefault((p["run"], p["method"]), []).append(p)
    return out
