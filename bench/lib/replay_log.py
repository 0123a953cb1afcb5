"""Benchmark: adaptive strategies replayed on a self-consistency log (no new sampling).

The log holds N_max i.i.d. samples per question (in the order they were drawn), so strategies that
only decide *how many* samples to use can be replayed exactly on it:
- adaptive-vote: rounds of 4 logged samples with the Beta stopping rule (threshold 0.95);
- DeepConf offline: all samples, the top 90% by the logged confidence score vote, weighted by it
  (needs a log made with `--verifier confidence`);
- the fitted policy, with two-fold cross-validation over questions (fit on one half, apply to the
  other): probe 4, then majority over the first N the policy gives the predicted difficulty.
DeepConf online cannot be replayed (its cut-off needs per-token logprobs);
bench/experiments/compute-where-it-pays/adaptive_compute.py runs it for real.

    python bench/lib/replay_log.py runs/gsm8k-vote-n16 --probe 4
"""

from __future__ import annotations

import argparse

from ponder.allocation.policy import fit_policy, probe_features
from ponder.eval.runner import RunDir
from ponder.strategies.adaptive import AdaptiveVote
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
    ad_acc = ad_tok = dc_acc = 0.0
    rule = AdaptiveVote(n_max, batch=4)
    for r in recs:
        cands = [Candidate(text="", answer=c["answer"], tokens=c["tokens"], score=c.get("score"))
                 for c in r["candidates"][:n_max]]
        used = n_max
        for k in range(4, n_max + 1, 4):
            if rule.settled(cands[:k], cands[k - 4:k])[0]:
                used = k
                break
        ok, tok = simulate(r, used)
        ad_acc, ad_tok = ad_acc + ok, ad_tok + tok
        if all(c.score is not None for c in cands):
            keep = sorted(range(len(cands)), key=lambda i: (-(cands[i].score or 0.0), i))[: max(1, int(0.9 * n_max))]
            voters = [c if i in keep else Candidate(text="", answer=None) for i, c in enumerate(cands)]
            t = tally(voters, weighted=True)
            dc_acc += bool(t) and r["candidates"][t[0].members[0]]["correct"]
        else:
            dc_acc = float("nan")
    print(f"# {args.run}: {n} questions, N_max {n_max}; policy: probe {args.probe}, 2-fold cross-validation, "
          f"predicted bins {bins}")
    print("| strategy (replayed on the log) | accuracy % | generated tokens / question | tokens vs self-consistency |")
    print("|---|---|---|---|")
    print(f"| self-consistency@{n_max} | {100 * sc_acc / n:.1f} | {sc_tok / n:.0f} | 1.00× |")
    print(f"| adaptive-vote (Beta 0.95, rounds of 4) | {100 * ad_acc / n:.1f} | {ad_tok / n:.0f} | "
          f"{ad_tok / sc_tok:.2f}× |")
    print(f"| DeepConf offline (top 90%, weighted) | {100 * dc_acc / n:.1f} | {sc_tok / n:.0f} | 1.00× |")
    print(f"| fitted policy | {100 * pol_acc / n:.1f} | {pol_tok / n:.0f} | {pol_tok / sc_tok:.2f}× |")


if __name__ == "__main__":
    main()
