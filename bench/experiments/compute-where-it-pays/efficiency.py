"""Benchmark: generated tokens against self-consistency@N at equal accuracy, on a split nothing was fitted on.

Reads eval logs only (no sampling):
- `--report RUN`: self-consistency (vote, N_max samples per question, ideally `-v confidence`) on
  the reporting split: the baseline, and the substrate for exact replays of rules that only choose
  how many of the logged i.i.d. samples to use;
- `--fit RUN` (repeatable, pooled): the same on a fitting split; the learned stopping rule is fitted here
  (`fit_stop_rule`, as `ponder fit-stop` does, `--target`) and replayed on the reporting split;
  `--rule FILE` replays a rule file `ponder fit-stop` wrote (the one a real run used);
- `--policy FILE` (with a rule): the rule replayed within the budget a `ponder fit-policy` file
  gives the difficulty its first round predicts (`auto --option policy=FILE`);
- `--pool FRACTION` (repeatable, with a rule): the rule replayed under a token budget for the whole
  run of FRACTION × the baseline's tokens, through the `TokenPool` `ponder eval --total-tokens`
  uses, questions in log order (as at --concurrency 1);
- `--changes` (with a rule): the questions where the rule's stopped answer is not SC@N's, with
  the samples it stopped on;
- `--threshold T` (repeatable, with a rule): the rule replayed at other thresholds, its accuracy-for-
  tokens curve on the reporting split (a threshold picked from it is picked in hindsight);
- `--crossfit` (for a set with no fitting split of its own, GSM8K here): a rule fitted on the
  reporting run's even-indexed problems replayed on the odd ones and the other way round, for each
  target (answer, outcome), pooled into one row in which every question is scored by a fit that did
  not see it; `--crossfit-policy PROBE` (repeatable, with `--rule`) does the same for a `fit-policy`
  policy with that probe under the rule;
- `--real RUN` (repeatable): strategies sampled for real on the reporting split (e.g. `auto`, which
  also stops samples at their answer and so cannot be replayed), paired with the baseline by
  problem id.
Rows: the baseline; two oracle bounds (each question stopped at the sample after which its majority
*answer* never changes again, the issue's bound; and after which the majority's *correctness* never
changes again, which also stops questions whose vote stays wrong: no rule that only chooses how many
samples can use fewer tokens at the baseline's accuracy); adaptive-vote replayed (Beta 0.95, rounds
of 4 and of 2, and confidence-weighted when the log has scores); the learned rule replayed; and each
real run. Accuracy differences and token ratios get paired bootstrap 95% intervals over questions.
† seconds per question: the run's elapsed (busy) time per question where its log has timestamps
(`finished_at`), so runs at different --concurrency compare as throughput; older logs give each
question's own latency, marked "(latency)".

    python bench/experiments/compute-where-it-pays/efficiency.py --fit runs/q05-arith-s0-vote16 --report \\
        runs/q05-arith-s1-vote16 \\
        --real runs/q05-arith-s1-auto
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from ponder.allocation.policy import Policy, fit_policy, logged_probe_features  # noqa: E402
from ponder.allocation.pools import TokenPool  # noqa: E402
from ponder.allocation.stopping import StopRule, _questions, fit_stop_rule, schedule, stop_features  # noqa: E402
from ponder.eval.metrics import elapsed_per_problem, paired_bootstrap  # noqa: E402
from ponder.eval.runner import RunDir  # noqa: E402
from ponder.strategies.adaptive import beta_leader_probability  # noqa: E402
from ponder.voting import tally_keys  # noqa: E402


def problem_index(problem_id):  # type: ignore[no-untyped-def]
    """The number that ends a problem id (`gsm8k-7` → 7), its position in the dataset."""
    m = re.search(r"(\d+)$", str(problem_id))
    if m is None:
        raise SystemExit(f"problem_id {problem_id!r} does not end in its index")
    return int(m.group(1))


def leader(keys):  # type: ignore[no-untyped-def]
    t = tally_keys(keys, [None] * len(keys), weighted=False)
    return t[0] if t else None


def replay(q, stop_at):  # type: ignore[no-untyped-def]
    """(correct, tokens) when question q stops after stop_at samples."""
    win = leader(q.keys[:stop_at])
    return (bool(win) and q.correct[win.members[0]]), sum(q.tokens[:stop_at])


def oracle_stop(q, n):  # type: ignore[no-untyped-def]
    """The fewest samples after which the majority answer never changes again (up to n)."""
    final = leader(q.keys[:n])
    final_key = final.key if final else None
    k = n
    for j in range(n, 0, -1):
        w = leader(q.keys[:j])
        if (w.key if w else None) != final_key:
            break
        k = j
    return k


def oracle_outcome_stop(q, n):  # type: ignore[no-untyped-def]
    """The fewest samples after which the majority's correctness never changes again (up to n)."""
    final = replay(q, n)[0]
    k = n
    for j in range(n, 0, -1):
        if replay(q, j)[0] != final:
            break
        k = j
    return k


def beta_stop(q, n, first, rnd, threshold=0.95, weighted=False):  # type: ignore[no-untyped-def]
    for k in schedule(first, rnd, n):
        if weighted:  # as AdaptiveVote(weighted=True): votes counted by confidence relative to the mean
            sc = q.scores[:k]
            mean = sum(sc) / k
            t = tally_keys(q.keys[:k], sc, weighted=True)
            v1 = t[0].weight / mean if t else 0.0
            v2 = t[1].weight / mean if len(t) > 1 else 0.0
        else:
            t = tally_keys(q.keys[:k], [None] * k, weighted=False)
            v1, v2 = (t[0].votes if t else 0), (t[1].votes if len(t) > 1 else 0)
        if t and beta_leader_probability(v1, v2) >= threshold:
            return k
    return n


def rule_stop(q, n, rule):  # type: ignore[no-untyped-def]
    for k in schedule(rule.min_samples, rule.round_size, n)[:-1]:
        scores = q.scores[:k] if rule.uses_scores else [None] * k
        f = stop_features(q.keys[:k], scores, q.tokens[:k], q.finish[:k], n)
        if rule.probability(f) >= rule.threshold:
            return k
    return n


def policy_cap(rec, first, policy):  # type: ignore[no-untyped-def]
    """The samples `auto --option policy=FILE` allows a question: its predicted bin's N (>= first)."""
    return max(policy.n_for(policy.predict(logged_probe_features(rec, first))), first)


def pooled(qs, stops, total, first, batch):  # type: ignore[no-untyped-def]
    """Samples per question when each stops at `stops` or when the run's TokenPool refuses more, as
    `auto` asks it: the first round always, then a round at a time."""
    pool = TokenPool(total, len(qs))
    ks = []
    for q, stop in zip(qs, stops):
        k = min(first, stop)
        pool.probed(sum(q.tokens[:k]))
        while k < stop:
            done = q.tokens[:k]
            per = sum(done) / k
            got, held = pool.grant(max(done), min(batch, stop - k), probe_cost=per * first)
            if not got:
                break
            pool.settle(held, sum(q.tokens[k:k + got]))
            k += got
        ks.append(k)
    return ks


def seconds(recs):  # type: ignore[no-untyped-def]
    """(seconds per question, is it the run's elapsed time): the run's busy time per question where the
    log has timestamps (throughput, whatever the concurrency), else each question's mean latency."""
    el = elapsed_per_problem(recs)
    if el is not None:
        return el, True
    walls = [(r.get("usage") or {}).get("wall_s") or 0.0 for r in recs]
    return (sum(walls) / len(walls), False) if walls else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", required=True)
    ap.add_argument("--fit", action="append", default=[],
                    help="A self-consistency run to fit a stop rule on (repeatable: the runs are pooled).")
    ap.add_argument("--real", action="append", default=[])
    ap.add_argument("--max-drop", type=float, default=0.005)
    ap.add_argument("--target", default="answer", help="The --fit rule's target (answer | outcome).")
    ap.add_argument("--rule", action="append", default=[], help="A stop-rule file to replay (repeatable).")
    ap.add_argument("--policy", help="A fit-policy file: the last rule replayed within its per-difficulty budget.")
    ap.add_argument("--pool", action="append", type=float, default=[],
                    help="The last rule under a run budget of this fraction of the baseline's tokens (repeatable).")
    ap.add_argument("--changes", action="store_true",
                    help="List the questions where the last rule's stopped answer differs from the baseline's.")
    ap.add_argument("--threshold", action="append", type=float, default=[],
                    help="The last rule replayed at this threshold instead of its calibrated one (repeatable): "
                         "the rule's accuracy-for-tokens curve on the reporting split, chosen in hindsight.")
    ap.add_argument("--crossfit", action="store_true",
                    help="Rules fitted on the report split's even/odd halves, each replayed on the other half.")
    ap.add_argument("--crossfit-policy", action="append", type=int, default=[],
                    help="With --rule: a policy with this probe, cross-fitted on the halves (repeatable).")
    args = ap.parse_args()
    recs = RunDir(args.report).records()
    ids = [r["problem_id"] for r in recs]
    qs = _questions(recs)
    graded = [r for r in recs if r.get("reference") is not None and r.get("candidates")]  # the records of qs
    n = min(len(q.keys) for q in qs)
    base = [replay(q, n) for q in qs]
    rows = [(f"self-consistency@{n} (log)", base, seconds(recs))]
    rows.append(("oracle bound: stop when the majority never changes again", [replay(q, oracle_stop(q, n)) for q in qs],
                 None))
    rows.append(("oracle bound: stop when the vote's correctness never changes again",
                 [replay(q, oracle_outcome_stop(q, n)) for q in qs], None))
    rows.append(("adaptive-vote replayed (Beta 0.95, rounds of 4)", [replay(q, beta_stop(q, n, 4, 4)) for q in qs],
                 None))
    rows.append(("adaptive-vote replayed (Beta 0.95, rounds of 2)", [replay(q, beta_stop(q, n, 2, 2)) for q in qs],
                 None))
    if all(s is not None for q in qs for s in q.scores):
        rows.append(("adaptive-vote replayed (confidence-weighted Beta 0.95, rounds of 2)",
                     [replay(q, beta_stop(q, n, 2, 2, weighted=True)) for q in qs], None))
    if args.fit:
        rule = fit_stop_rule([r for run in args.fit for r in RunDir(run).records()], max_drop=args.max_drop,
                             target=args.target)
        rows.append((f"learned stop replayed (target {args.target}, fit on {rule.fitted_on.get('questions')} "
                     f"questions of {', '.join(Path(f).name for f in args.fit)}, threshold {rule.threshold:.3g})",
                     [replay(q, rule_stop(q, n, rule)) for q in qs], None))
    for path in args.rule:
        rule = StopRule.load(path)
        rows.append((f"learned stop replayed ({Path(path).name}: target {rule.fitted_on.get('target', 'outcome')}, "
                     f"fit on {rule.fitted_on.get('questions')} questions, threshold {rule.threshold:.3g})",
                     [replay(q, rule_stop(q, n, rule)) for q in qs], None))
    if args.crossfit or args.crossfit_policy:
        if args.crossfit_policy and not args.rule:
            ap.error("--crossfit-policy replays a policy under a stop rule: give --rule FILE")
        halves = [[j for j, r in enumerate(graded) if problem_index(r["problem_id"]) % 2 == h] for h in (0, 1)]
        if min(map(len, halves)) < 8:
            ap.error(f"--crossfit: {args.report} has {len(halves[0])} even- and {len(halves[1])} odd-indexed "
                     "graded problems; each half needs at least 8")

        def crossfit(stop_for):  # type: ignore[no-untyped-def]
            """Per question (correct, tokens), its stop from `stop_for(fitting records)` of the other half."""
            out, what = [None] * len(qs), []
            for h in (0, 1):
                stop, desc = stop_for([graded[j] for j in halves[1 - h]])
                what.append(desc)
                for j in halves[h]:
                    out[j] = replay(qs[j], stop(j))
            return out, " / ".join(what)

        def fitted_rule(target):  # type: ignore[no-untyped-def]
            def stop_for(fit_recs):  # type: ignore[no-untyped-def]
                r = fit_stop_rule(fit_recs, max_drop=args.max_drop, target=target)
                return (lambda j: rule_stop(qs[j], n, r)), f"{r.threshold:.3g}"
            return stop_for

        for target in ("answer", "outcome") if args.crossfit else ():
            res, what = crossfit(fitted_rule(target))
            rows.append((f"learned stop cross-fitted on the split's halves (target {target}, thresholds {what})",
                         res, None))
        for probe in args.crossfit_policy:
            rule0 = StopRule.load(args.rule[-1])

            def policy_stop_for(fit_recs, probe=probe, rule0=rule0):  # type: ignore[no-untyped-def]
                pol = fit_policy(fit_recs, probe=probe)
                first = max(rule0.min_samples, rule0.round_size, pol.probe)
                bins = "+".join(f"{b}:{v['n']}" for b, v in pol.bins.items())
                return (lambda j: min(rule_stop(qs[j], n, rule0), policy_cap(graded[j], first, pol))), bins
            res, what = crossfit(policy_stop_for)
            rows.append((f"{Path(args.rule[-1]).name} + policy cross-fitted on the halves (probe {probe}; "
                         f"bin:N {what})", res, None))
    if (args.policy or args.pool or args.threshold or args.changes) and not (args.rule or args.fit):
        ap.error("--policy, --pool, --threshold and --changes replay a stop rule: give --rule FILE or --fit RUN")
    if args.changes:
        print("| question | level | reference | stopped after | its answers | SC's answer | right: stopped / SC |")
        print("|---|---|---|---|---|---|---|")
        for r, q, b in zip(graded, qs, base):
            k = rule_stop(q, n, rule)
            stopped, full = leader(q.keys[:k]), leader(q.keys[:n])
            if (stopped.key if stopped else None) == (full.key if full else None):
                continue
            answers = ", ".join(str(c.get("answer")) for c in r["candidates"][:k])
            sc = r["candidates"][full.members[0]].get("answer") if full else None
            print(f"| {r['problem_id']} | {r.get('level', '')} | {r['reference']} | {k} | {answers} | {sc} "
                  f"| {'yes' if replay(q, k)[0] else 'no'} / {'yes' if b[0] else 'no'} |")
    for t in args.threshold:
        swept = dataclasses.replace(rule, threshold=t)
        rows.append((f"learned stop at threshold {t:g} instead of {rule.threshold:.3g} (hindsight)",
                     [replay(q, rule_stop(q, n, swept)) for q in qs], None))
    if args.policy or args.pool:
        stops = [rule_stop(q, n, rule) for q in qs]
        first = max(rule.min_samples, rule.round_size)
        if args.policy:
            pol = Policy.load(args.policy)
            first = max(first, pol.probe)
            stops = [min(s, policy_cap(r, first, pol)) for r, s in zip(graded, stops)]
            rows.append((f"learned stop + policy replayed ({Path(args.policy).name}, probe {pol.probe})",
                         [replay(q, s) for q, s in zip(qs, stops)], None))
        full = sum(t for q in qs for t in q.tokens[:n])
        for frac in args.pool:
            ks = pooled(qs, stops, max(1, round(frac * full)), first, rule.round_size)
            what = "learned stop + policy" if args.policy else "learned stop"
            rows.append((f"{what} under a run budget of {frac:g}× SC@{n}'s tokens (TokenPool, log order)",
                         [replay(q, k) for q, k in zip(qs, ks)], None))
    for run in args.real:
        got = {r["problem_id"]: r for r in RunDir(run).records()}
        missing = [i for i in ids if i not in got]
        if missing:
            print(f"# {run}: {len(missing)} of {len(ids)} questions not logged yet; pairing the rest", file=sys.stderr)
        keep = [j for j, i in enumerate(ids) if i in got]
        b = [base[j] for j in keep]
        o = [(bool(got[ids[j]]["correct"]), (got[ids[j]].get("usage") or {}).get("completion_tokens") or 0)
             for j in keep]
        wall = seconds([got[ids[j]] for j in keep])
        rows.append((f"{Path(run).name} (sampled for real, {len(keep)} questions)", (b, o), wall))
    print(f"# report split: {args.report} ({len(qs)} questions, N_max {n})")
    print("| strategy | accuracy % | Δ accuracy vs SC, pts [95% CI] | tokens / question | tokens vs SC [95% CI] "
          "| s / question † |")
    print("|---|---|---|---|---|---|")
    for name, res, wall in rows:
        b, o = res if isinstance(res, tuple) else (base, res)
        acc = 100 * sum(c for c, _ in o) / len(o)
        d = 100 * sum(x[0] - y[0] for x, y in zip(o, b)) / len(o)
        tok = sum(t for _, t in o) / len(o)
        ratio = sum(t for _, t in o) / max(sum(t for _, t in b), 1)
        (dl, dh), (rl, rh) = paired_bootstrap(b, o)
        wall_s = "—" if wall is None else f"{wall[0]:.1f}{'' if wall[1] else ' (latency)'}"
        print(f"| {name} | {acc:.1f} | {d:+.1f} [{dl:+.1f}, {dh:+.1f}] | {tok:.0f} | {ratio:.2f}× [{rl:.2f}, {rh:.2f}] "
              f"| {wall_s} |")


if __name__ == "__main__":
    main()
