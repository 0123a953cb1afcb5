"""Benchmark: the fitted allocation policy, evaluated from a self-consistency log (no new sampling).

The log holds N_max i.i.d. samples per question, so "probe k, then draw up to N" is exactly majority
over the first N logged samples. Two-fold cross-validation over questions: fit the policy on one
half, apply it to the other, and compare with self-consistency@N_max on the same held-out questions.

    python bench/policy_from_log.py runs/bench-adaptive/arith-vote-n16 --probe 4
"""

from __future__ import annotations

import argparse

from ponder.allocation.policy import fit_policy, probe_features
from ponder.eval.runner import RunDir
from ponder.strategies.vote import tally
from ponder.types import Candidate


def simulate(rec, n):  # type: ignore[no-untyped-def]
    """Majority over the first n logged samples: (correct, generated tokens)."""
    cands = [Candidate(text="", answer=c["answer"], tokens=c["tokens"]) for c in rec["candidates"][:n]]
    t = tally(cands, weighted=False)
    ok = bool(t) and rec["candidates"][t[0].members[0]]["correct"]
    return ok, sum(c.tokens or 0 for c in cands)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--probe", type=int, default=4)
    args = ap.parse_args()
    recs = RunDir(args.run).records()
    n_max = min(len(r["candidates"]) for r in recs)
    folds = [recs[0::2], recs[1::2]]
    pol_acc = pol_tok = sc_acc = sc_tok = 0.0
    bins: dict[str, int] = {}
    for k in range(2):
        pol = fit_policy(folds[1 - k], probe=args.probe)
        for r in folds[k]:
            probe = [Candidate(text="", answer=c["answer"], tokens=c["tokens"]) for c in r["candidates"][:args.probe]]
            b = pol.predict(probe_features(probe))
            bins[b] = bins.get(b, 0) + 1
            ok, tok = simulate(r, max(args.probe, pol.n_for(b)))
            pol_acc, pol_tok = pol_acc + ok, pol_tok + tok
            ok, tok = simulate(r, n_max)
            sc_acc, sc_tok = sc_acc + ok, sc_tok + tok
    n = len(recs)
    print(f"# {args.run}: {n} questions, N_max {n_max}, probe {args.probe}, 2-fold cross-validation; "
          f"predicted bins {bins}")
    print("| strategy | accuracy % | generated tokens / question | tokens vs self-consistency |")
    print("|---|---|---|---|")
    print(f"| self-consistency@{n_max} | {100 * sc_acc / n:.1f} | {sc_tok / n:.0f} | 1.00× |")
    print(f"| fitted policy | {100 * pol_acc / n:.1f} | {pol_tok / n:.0f} | {pol_tok / sc_tok:.2f}× |")


if __name__ == "__main__":
    main()
