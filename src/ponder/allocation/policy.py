"""Difficulty prediction and compute-optimal allocation, fitted from an eval log (Snell et al. 2024).

A question is first **probed** with k samples; its probe features (vote agreement, distinct answers,
no-answer share, mean verifier score, log mean length) go to a **nearest-centroid predictor** that
maps them to a difficulty bin. The bins are defined on the fitting log by how often the model's own
samples are right: `hopeless` (none of N_max), `hard` (< 30%), `medium` (< 70%), `easy`. For each
bin the policy picks the smallest N (probe included) whose majority-vote accuracy on that bin is
within `tolerance` of the bin's best, i.e. the best accuracy per token: trivial and hopeless
questions stop at the probe, the ones in between get more samples.

    ponder fit-policy runs/gsm8k-vote-n16 -o policy.json
    ponder eval --dataset gsm8k --strategy policy --policy policy.json --total-tokens 200000

The policy is a JSON file (`Policy.to_dict`), so it can be inspected and edited.

**Parallel × sequential.** `ponder fit-policy LOG --mix REVISE_RUN ...` also weighs `--strategy revise`
runs on the same questions (e.g. `--option chains=1` and `chains=2`): a bin takes the mix that reaches
its best accuracy for the fewest tokens, so easy-but-not-trivial questions can get revisions and hard
ones parallel samples, as Snell et al. found. At run time the probe samples start the chains.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ponder.errors import ConfigError
from ponder.types import Candidate
from ponder.voting import PreparedRecord, check_iid, n_grid, tally

FEATURES = ("agreement", "distinct", "no_answer", "score", "log_tokens")
BINS = ("hopeless", "hard", "medium", "easy")


def probe_features(cands: Sequence[Candidate]) -> list[float]:
    """Features of a question from its probe samples (see FEATURES)."""
    k = max(len(cands), 1)
    t = tally(cands, weighted=False)
    agreement = t[0].votes / k if t else 0.0
    toks = [c.tokens for c in cands if c.tokens]
    scores = [c.score for c in cands if c.score is not None]
    return [agreement, len(t) / k, sum(c.answer is None for c in cands) / k,
            sum(scores) / len(scores) if scores else 0.0, math.log1p(sum(toks) / len(toks)) if toks else 0.0]


def difficulty_bin(pass_rate: float) -> str:
    if pass_rate <= 0:
        return "hopeless"
    return "hard" if pass_rate < 0.3 else "medium" if pass_rate < 0.7 else "easy"


@dataclass
class Policy:
    probe: int
    mean: list[float]
    std: list[float]
    centroids: dict[str, list[float]]
    bins: dict[str, dict[str, Any]]
    """bin → {"n": samples in total, "accuracy": on the fitting log, "tokens": per question, "count"}."""
    fitted_on: dict[str, Any]

    def predict(self, features: Sequence[float]) -> str:
        z = [(f - m) / s for f, m, s in zip(features, self.mean, self.std)]
        return min(self.centroids, key=lambda b: (sum((a - c) ** 2 for a, c in zip(z, self.centroids[b])), b))

    @property
    def uses_scores(self) -> bool:
        """Whether the fitting log had verifier scores (the `score` feature varied): the probe then
        needs scores too, or every question looks like the fitting log's least confident ones."""
        return self.std[FEATURES.index("score")] > 1e-6

    def n_for(self, bin_name: str) -> int:
        return int(self.bins.get(bin_name, {}).get("n", self.probe))

    def action_for(self, bin_name: str) -> dict[str, Any] | None:
        """The mixed strategy a bin runs instead of more votes ({"strategy", "n", "options"}), if any."""
        return self.bins.get(bin_name, {}).get("action")

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "features": list(FEATURES), **asdict(self)}

    def save(self, path: str | os.PathLike) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Policy:
        from ponder.files import build, load_json

        d = load_json(path, param="policy", what="policy file")
        if not isinstance(d, dict) or d.get("version") != 1 or d.get("features") != list(FEATURES):
            raise ConfigError("policy", str(path), "not a ponder policy file (version 1)")
        return build(cls, d, ("probe", "mean", "std", "centroids", "bins", "fitted_on"),
                     param="policy", path=path, what="policy file",
                     check=lambda p: p.n_for(p.predict([0.5] * len(FEATURES))))


def logged_probe_features(rec: dict[str, Any], k: int) -> list[float]:
    """`probe_features` of a logged question's first k candidates: what a probe of k samples would
    have seen (fitting and replays read logs as the strategies draw)."""
    return probe_features([Candidate(text="", answer=c.get("answer"), score=c.get("score"), tokens=c.get("tokens"))
                           for c in rec["candidates"][:k]])


def _mix_curve(action: dict[str, Any], records: Sequence[dict[str, Any]], members: Sequence[Any]
               ) -> dict[str, Any] | None:
    """A mixed strategy's accuracy and tokens on a bin's questions (by problem id), when its log covers
    at least half of them."""
    by_id: dict[Any, dict[str, Any]] = {}
    for r in records:
        by_id.setdefault(r.get("problem_id"), r)
    got = [by_id[m] for m in members if m in by_id]
    if not got or 2 * len(got) < len(members):
        return None
    acc = sum(bool(r.get("correct")) for r in got) / len(got)
    toks = sum(sum(c.get("tokens") or 0 for c in r.get("candidates") or ()) for r in got) / len(got)
    return {"n": int(action["n"]), "accuracy": round(acc, 4), "tokens": round(toks, 1), "action": action,
            "covered": len(got)}


def fit_policy(records: Sequence[dict[str, Any]], *, probe: int = 4, tolerance: float = 0.02,
               subsamples: int = 64, seed: int = 0,
               mixes: Sequence[tuple[dict[str, Any], Sequence[dict[str, Any]]]] = ()) -> Policy:
    """Fit a policy from eval records that hold N_max >= probe candidates per question.

    `mixes`: (action, records) of other strategies run on the same questions, where action is
    {"strategy": "revise", "n": N, "options": {"chains": M, ...}}; a bin takes one of them instead of
    more votes when it reaches the bin's best accuracy (within `tolerance`) for fewer tokens: how the
    policy picks the parallel/sequential ratio per difficulty."""
    for action, _ in mixes:
        if action.get("strategy") != "revise":
            raise ConfigError("mix", action.get("strategy"), "only revise runs can be mixed into a policy")
        if int(action.get("n") or 0) < probe:
            raise ConfigError("mix", action.get("n"), f"a mixed run needs n >= the probe ({probe})")
    check_iid(records, "fit-policy")
    recs = [r for r in records if len(r.get("candidates") or []) >= probe and r.get("reference") is not None]
    if len(recs) < 4:
        raise ConfigError("log", len(recs), f"need at least 4 graded records with >= {probe} candidates each")
    feats = [logged_probe_features(r, probe) for r in recs]
    labels = [difficulty_bin(sum(bool(c.get("correct")) for c in r["candidates"]) / len(r["candidates"]))
              for r in recs]
    dims = len(FEATURES)
    mean = [sum(f[i] for f in feats) / len(feats) for i in range(dims)]
    std = [max(1e-6, math.sqrt(sum((f[i] - mean[i]) ** 2 for f in feats) / len(feats))) for i in range(dims)]
    z = [[(f[i] - mean[i]) / std[i] for i in range(dims)] for f in feats]
    centroids: dict[str, list[float]] = {}
    bins: dict[str, dict[str, Any]] = {}
    prepared = [PreparedRecord(r) for r in recs]  # answer keys once per record, not once per N
    n_max = min(len(r["candidates"]) for r in recs)
    grid = sorted({n for n in n_grid(n_max) if n >= probe} | {probe})
    for b in BINS:
        members = [i for i, lab in enumerate(labels) if lab == b]
        if not members:
            continue
        centroids[b] = [sum(z[i][d] for i in members) / len(members) for d in range(dims)]
        curve = []
        for n in grid:
            rng = random.Random(f"{seed}:{b}:{n}")
            accs = [prepared[i].accuracy(n, "majority", rng, subsamples) for i in members]
            toks = [(prepared[i].mean_tokens or 0.0) * n for i in members]
            curve.append((n, sum(a or 0.0 for a in accs) / len(accs), sum(toks) / len(toks)))
        options = [{"n": c[0], "accuracy": round(c[1], 4), "tokens": round(c[2], 1)} for c in curve]
        ids = [recs[i].get("problem_id") for i in members]
        mixed = [m for m in (_mix_curve(a, mrecs, ids) for a, mrecs in mixes) if m is not None]
        best = max(o["accuracy"] for o in options + mixed)
        pick = min((o for o in options + mixed if o["accuracy"] >= best - tolerance),
                   key=lambda o: (o["tokens"], o["n"]))
        bins[b] = {**{k: v for k, v in pick.items() if k != "covered"}, "count": len(members), "curve": options,
                   **({"mixes": mixed} if mixed else {})}
    return Policy(probe=probe, mean=mean, std=std, centroids=centroids, bins=bins,
                  fitted_on={"records": len(recs), "n_max": n_max, "tolerance": tolerance,
                             **({"mixes": [a for a, _ in mixes]} if mixes else {})})
