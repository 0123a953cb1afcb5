"""Benchmark: a small model with test-time compute against a larger one at equal FLOPs, and routing
between them, fitted on one split and reported on another (issue 12). Reads eval logs only.

- `--report RUN` (repeatable, one per model): self-consistency logs (`vote`, ideally `-v confidence`)
  of the reporting questions. From them: the compute-optimal frontier over all questions and per
  level (`ponder.eval.frontier`, as `ponder report` draws it), and, for each N of the largest model
  (its best selection method at that N), the best point of each smaller model whose FLOPs per
  question fit within it, with the paired accuracy difference (both chosen in hindsight, per level);
- `--fit RUN` (repeatable; runs of one model are pooled): the same models on the fitting questions; the route table
  is fitted there (`ponder.allocation.route_table.fit_route`, as `ponder fit-route` does) and replayed on
  the reporting logs (`replay_route`, arms selecting by `--route-methods`) at a grid of per-question FLOP
  budgets, then of mean budgets per question (`mean_flops`, planned over the bins), then of the same
  budgets held over the whole reporting set (`total_flops`, a `FlopPool`), each against the best
  single (model, method, N) on the reporting split within the FLOPs route spent (chosen in hindsight,
  which favours the single arms) and against the single arm a user would pick from the same fitting
  logs at the same budget (the most accurate arm whose fitting FLOPs fit it, no routing: what per-
  question routing adds over one fitted setting).
With `--difficulty RUN` (one of the --report runs) the levels are not the dataset's but each
question's difficulty from that run's last `--held-back` samples, which are then not scored
(`ponder.eval.frontier.held_back_levels`; for GSM8K, which has no levels).
Per-question accuracy of an i.i.d. point is its expected accuracy over subsets of N logged samples;
intervals are paired bootstraps over questions.

    python bench/experiments/small-vs-large/frontier_heldout.py --fit runs/q05-arith-s0-vote16 --fit \\
        runs/q15-arith-s0-vote4 \\
        --report runs/q05-arith-s1-vote16 --report runs/q15-arith-s1-vote4 --report runs/s135-arith-s1-vote16 \\
        --plot docs/img/frontier.png
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from ponder.allocation.route_replay import replay_route  # noqa: E402
from ponder.allocation.route_table import fit_route  # noqa: E402
from ponder.eval.frontier import LEVEL_RULE, _flops_per_token, fmt_compute, held_back_levels, points_by_level  # noqa: E402
from ponder.eval.metrics import paired_bootstrap  # noqa: E402
from ponder.eval.report import frontier_md  # noqa: E402
from ponder.eval.runner import RunDir  # noqa: E402
from ponder.voting import PreparedRecord  # noqa: E402


def load(run):  # type: ignore[no-untyped-def]
    rd = RunDir(run)
    recs = [r for r in rd.records() if r.get("candidates")]
    if not recs:
        raise SystemExit(f"{run}: no logged problems with samples")
    return rd.config().get("model") or Path(run).name, recs


def by_model(runs):  # type: ignore[no-untyped-def]
    """(model, records) per model, the records of several runs of one model pooled (e.g. two fitting
    seeds); problem ids must differ between them, as `arith:seed=S` ids do."""
    pooled = {}
    for run in runs:
        model, recs = load(run)
        pooled.setdefault(model, []).extend(recs)
    return list(pooled.items())


def arms(model, recs, subsamples=64, seed=0):  # type: ignore[no-untyped-def]
    """(model, method, N) → {problem_id: (expected accuracy, FLOPs)} over the log's questions."""
    prepared = [(r, PreparedRecord(r)) for r in recs]
    n_max = min(p.k for _, p in prepared)
    scored = all(s is not None for _, p in prepared for s in p.scores)
    out = {}
    for method in ("majority", *(("weighted", "naive") if scored else ())):
        for n in range(1, n_max + 1):  # every N, so points of two models can be matched closely in FLOPs
            per = {}
            for r, p in prepared:
                rng = random.Random(f"{seed}:{r['problem_id']}:{method}:{n}")
                fpt = _flops_per_token(r)
                flops = fpt * (((r.get("usage") or {}).get("prompt_tokens") or 0) + (p.mean_tokens or 0) * n)
                per[r["problem_id"]] = (p.accuracy(n, method, rng, subsamples) or 0.0, flops)
            out[(model, method, n)] = per
    return out


def mean(xs):  # type: ignore[no-untyped-def]
    xs = list(xs)
    return sum(xs) / len(xs)


def label(arm):  # type: ignore[no-untyped-def]
    model, method, n = arm
    return f"{model} {method}@{n}"


def compare(a, b, ids):  # type: ignore[no-untyped-def]
    """Δ accuracy (b − a, points) with its paired interval, over ids."""
    base, other = [a[i] for i in ids], [b[i] for i in ids]
    (lo, hi), _ = paired_bootstrap(base, other)
    return 100 * (mean(x for x, _ in other) - mean(x for x, _ in base)), lo, hi


def routing_bound(all_arms, ids, levels, cost):  # type: ignore[no-untyped-def]
    """What routing could add if it knew each question's level: per level the arm that maximises
    accuracy − λ·FLOPs on that level's questions, λ bisected so the mean FLOPs fit each budget (the
    same Lagrangian as `RouteTable.plan`), against the best single arm within the same FLOPs.
    Optimistic twice over (levels known, arms chosen on the questions they are scored on): a ceiling."""
    lvls = sorted({levels[i] for i in ids})
    members = {lv: [i for i in ids if levels[i] == lv] for lv in lvls}
    per = {lv: {a: (mean(all_arms[a][i][0] for i in qs), mean(all_arms[a][i][1] for i in qs))
                for a in all_arms} for lv, qs in members.items()}

    common = os.path.commonprefix(sorted({a[0] for a in all_arms})) if len({a[0] for a in all_arms}) > 1 else ""

    def plan(lam):  # type: ignore[no-untyped-def]
        pick = {lv: max(per[lv], key=lambda a: per[lv][a][0] - lam * per[lv][a][1]) for lv in lvls}
        return pick, sum(len(members[lv]) * per[lv][pick[lv]][1] for lv in lvls) / len(ids)

    print("\n## Routing bound: each question's level known (hindsight), the best arm per level for a mean "
          "FLOP budget\n")
    print("| mean FLOPs budget / question | routed: accuracy % | FLOPs | arm per level | best single within those "
          "FLOPs | accuracy % | Δ routed − single, pts [95% CI] |")
    print("|---|---|---|---|---|---|---|")
    for budget in sorted({cost[a] for a in all_arms if a[2] in (1, 2, 4) and a[1] == "majority"}):
        lo, hi = 0.0, 1e-15
        while plan(hi)[1] > budget and hi < 1e3:
            hi *= 2
        for _ in range(80):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if plan(mid)[1] > budget else (lo, mid)
        pick, fl = plan(hi)
        got = {i: all_arms[pick[levels[i]]][i] for i in ids}
        fits = [a for a in all_arms if cost[a] <= fl * (1 + 1e-9)]
        if not fits:
            continue
        best = max(fits, key=lambda a: (mean(all_arms[a][i][0] for i in ids), -cost[a]))
        d, dlo, dhi = compare(all_arms[best], got, ids)
        arms_txt = ", ".join(f"{lv}: {label(pick[lv])[len(common):]}" for lv in lvls)
        acc, b_acc = mean(x for x, _ in got.values()), mean(all_arms[best][i][0] for i in ids)
        print(f"| {fmt_compute(budget)} | {100 * acc:.1f} | {fmt_compute(fl)} | {arms_txt} | {label(best)} "
              f"| {100 * b_acc:.1f} | {d:+.1f} [{dlo:+.1f}, {dhi:+.1f}] |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", action="append", required=True)
    ap.add_argument("--fit", action="append", default=[])
    ap.add_argument("--probe", type=int, default=4)
    ap.add_argument("--route-methods", default="majority,weighted,naive",
                    help="Selections route's arms may use (majority only: as a run without a verifier).")
    ap.add_argument("--plot")
    ap.add_argument("--panels", help="Panels to plot, comma-separated (e.g. all,5); default every level.")
    ap.add_argument("--difficulty", help="A --report run whose last --held-back samples set each question's level.")
    ap.add_argument("--held-back", type=int, default=4)
    args = ap.parse_args()
    report = [load(r) for r in args.report]
    ids = sorted(set.intersection(*({r["problem_id"] for r in recs} for _, recs in report)))
    report = [(m, [r for r in recs if r["problem_id"] in ids]) for m, recs in report]
    if args.difficulty:
        if args.difficulty not in args.report:
            ap.error(f"--difficulty {args.difficulty!r}: must be one of the --report runs")
        model = report[args.report.index(args.difficulty)][0]
        report = held_back_levels(report, model, args.held_back)
        print(f"# levels: difficulty from {model}'s last {args.held_back} samples, not scored ({LEVEL_RULE})")
    levels = {r["problem_id"]: r.get("level") for _, recs in report for r in recs}
    print(f"# reporting split: {len(ids)} questions in every log ({', '.join(args.report)})\n")
    by_level = points_by_level(report)
    print(frontier_md(by_level).replace("## Compute-optimal frontier", "## Frontier on the reporting split"))

    # small + compute against the largest model, at the largest model's FLOPs
    all_arms = {}
    for m, recs in report:
        all_arms.update(arms(m, recs))
    cost = {a: mean(f for _, f in per.values()) for a, per in all_arms.items()}
    per_model_cost = {m: mean(cost[a] for a in all_arms if a[0] == m and a[2] == 1) for m, _ in report}
    large = max(per_model_cost, key=per_model_cost.get)
    print(f"\n## Smaller models with more samples against {large}, at no more FLOPs\n")
    print("| level | larger model | FLOPs | accuracy % | best smaller within those FLOPs | FLOPs | accuracy % "
          "| Δ pts [95% CI] |")
    print("|---|---|---|---|---|---|---|---|")
    lvls = ["all", *sorted({v for v in levels.values() if v is not None})]
    for lv in lvls:
        qs = [i for i in ids if lv == "all" or levels[i] == lv]
        for n_big in sorted({a[2] for a in all_arms if a[0] == large}):
            big = max((a for a in all_arms if a[0] == large and a[2] == n_big),  # its best method at this N
                      key=lambda a: mean(all_arms[a][i][0] for i in qs))
            c_big = mean(all_arms[big][i][1] for i in qs)
            acc_big = mean(all_arms[big][i][0] for i in qs)
            for m in sorted(per_model_cost, key=per_model_cost.get):
                if m == large:
                    continue
                fits = [a for a in all_arms if a[0] == m and mean(all_arms[a][i][1] for i in qs) <= c_big]
                if not fits:
                    print(f"| {lv} | {label(big)} | {fmt_compute(c_big)} | {100 * acc_big:.1f} | {m}: nothing fits "
                          "| — | — | — |")
                    continue
                best = max(fits, key=lambda a: (mean(all_arms[a][i][0] for i in qs), -cost[a]))
                d, lo, hi = compare(all_arms[big], all_arms[best], qs)
                print(f"| {lv} | {label(big)} | {fmt_compute(c_big)} | {100 * acc_big:.1f} | {label(best)} "
                      f"| {fmt_compute(mean(all_arms[best][i][1] for i in qs))} "
                      f"| {100 * mean(all_arms[best][i][0] for i in qs):.1f} | {d:+.1f} [{lo:+.1f}, {hi:+.1f}] |")

    if args.difficulty:
        routing_bound(all_arms, ids, levels, cost)

    if args.fit:
        fit = by_model(args.fit)
        table = fit_route(fit, probe=args.probe)
        methods = tuple(args.route_methods.split(","))
        print(f"\n## Routing, fitted on {', '.join(args.fit)} ({table.fitted_on['questions']} questions; "
              f"probe {table.probe} samples of {table.probe_model}; predicted bins "
              f"{table.fitted_on['predicted_bins']}), replayed on the reporting split\n")
        fit_arms = {}
        for m, recs in fit:
            fit_arms.update(arms(m, recs))
        fit_cost = {a: mean(f for _, f in per.values()) for a, per in fit_arms.items()}
        fit_acc = {a: mean(x for x, _ in per.values()) for a, per in fit_arms.items()}
        header = ("| FLOPs budget / question | route: accuracy % | FLOPs / question | arms taken | best single within "
              "route's FLOPs (hindsight) | accuracy % | FLOPs | Δ route − single, pts [95% CI] "
              "| best single majority vote | Δ, pts [95% CI] | single arm fitted at the budget: accuracy %, FLOPs "
              "| Δ route − it, pts [95% CI] |")
        prices = sorted({b["flops"] for a in table.arms for b in a["bins"].values()})
        budgets = [None, *sorted({prices[int(q * (len(prices) - 1))] for q in (0.0, 0.1, 0.25, 0.5, 0.75)})]
        runs = {m: recs for m, recs in report}
        route_points = []
        asked = sum(1 for r in runs[table.probe_model] if len(r.get("candidates") or ()) >= table.probe)
        for mode in ("cap", "mean", "pool"):
            if mode == "mean":
                print("\n### The same route under a mean FLOP budget per question (a batch budget: `RouteTable.plan` "
                      "moves compute between predicted bins)\n")
            if mode == "pool":
                print("\n### The same route under a batch budget that holds (`--total-flops`: the budget × the "
                      "questions, a `FlopPool`, re-planned per question at what is left)\n")
            print(header)
            print("|---|---|---|---|---|---|---|---|---|---|---|---|")
            for budget in budgets:
                if budget is None and mode != "cap":
                    continue
                kw = ({"budget": budget} if mode == "cap" else {"mean_flops": budget} if mode == "mean"
                      else {"total_flops": budget * asked})
                rows = [r for r in replay_route(table, runs, methods=methods, **kw) if r["problem_id"] in set(ids)]
                got = {r["problem_id"]: (r["accuracy"], r["flops"]) for r in rows}
                qs = [i for i in ids if i in got]
                acc, fl = mean(got[i][0] for i in qs), mean(got[i][1] for i in qs)
                taken: dict[str, int] = {}
                for r in rows:
                    k = f"{r['model']} {r['method']}@{r['n']}"
                    taken[k] = taken.get(k, 0) + 1
                fits = [a for a in all_arms if mean(all_arms[a][i][1] for i in qs) <= fl]
                b_txt = "nothing as cheap | — | — | — | — | —"
                if fits:
                    best = max(fits, key=lambda a: (mean(all_arms[a][i][0] for i in qs), -cost[a]))
                    d, lo, hi = compare(all_arms[best], got, qs)
                    b_txt = (f"{label(best)} | {100 * mean(all_arms[best][i][0] for i in qs):.1f} | "
                             f"{fmt_compute(mean(all_arms[best][i][1] for i in qs))} | {d:+.1f} [{lo:+.1f}, {hi:+.1f}]")
                    maj = max((a for a in fits if a[1] == "majority"),
                              key=lambda a: (mean(all_arms[a][i][0] for i in qs), -cost[a]))
                    d, lo, hi = compare(all_arms[maj], got, qs)
                    b_txt += (f" | {label(maj)}: {100 * mean(all_arms[maj][i][0] for i in qs):.1f} "
                              f"| {d:+.1f} [{lo:+.1f}, {hi:+.1f}]")
                one = [a for a in fit_arms if a in all_arms and a[1] in methods
                       and (budget is None or fit_cost[a] <= budget)]
                if one:
                    single = max(one, key=lambda a: (round(fit_acc[a], 6), -fit_cost[a]))
                    d, lo, hi = compare(all_arms[single], got, qs)
                    s_acc, s_fl = (mean(all_arms[single][i][k] for i in qs) for k in (0, 1))
                    b_txt += (f" | {label(single)}: {100 * s_acc:.1f}, {fmt_compute(s_fl)} "
                              f"| {d:+.1f} [{lo:+.1f}, {hi:+.1f}]")
                else:
                    b_txt += " | no arm fits | —"
                print(f"| {'none' if budget is None else fmt_compute(budget)} | {100 * acc:.1f} | {fmt_compute(fl)} | "
                      f"{', '.join(f'{k} ×{v}' for k, v in sorted(taken.items()))} | {b_txt} |")
                if mode == "pool":  # the plot shows the per-question and mean budgets; the pool is a table
                    continue
                route_points.append({"run": f"route (replayed, {'per-question' if mode == 'cap' else 'mean'} budget)",
                                     "method": "route", "n": None, "accuracy": acc,
                                     "ci_low": acc, "ci_high": acc, "problems": len(qs), "tokens": None, "flops": fl,
                                     "wall": None})
        by_level["all"] = [*by_level["all"], *route_points]
    if args.plot:
        from ponder.eval.plots import plot_frontier

        keep = [p.strip() for p in args.panels.split(",")] if args.panels else None
        panels = {k: v for k, v in by_level.items() if keep is None or str(k) in keep}
        print(f"\nplot → {plot_frontier(panels, args.plot)}")


if __name__ == "__main__":
    main()
