"""The voting algebra: answers grouped into tallies, and selection over subsets of a logged
question's candidates. Strategies vote with it, the eval harness draws curves with it, and the
allocation layer fits policies and stopping rules with it, so it sits below all three.

- `answer_keys` / `tally_keys` / `tally`: group equivalent answers (`ponder.answers.group_keys`)
  and rank the groups: more weight, then more votes, then the best single score, then the smaller
  key (deterministic, independent of sample order).
- `is_iid`, `check_iid`: whether a log holds independent samples per question (self-consistency,
  best-of-N), the only logs a curve over N can be read off or a policy fitted on;
- `n_grid`, `PreparedRecord`: a log record's candidates reduced to vote keys, scores and
  correctness, and the accuracy of a selection method (majority, weighted, naive best-of-N, oracle
  pass@N) at N samples, subsampled.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ponder.answers import group_keys
from ponder.errors import ConfigError
from ponder.types import Candidate

Record = dict[str, Any]

IID = frozenset({"vote", "weighted-vote", "best-of-n"})
"""Strategies whose logs hold N_max independent samples per question (so any N <= N_max can be read off)."""


def is_iid(records: Sequence[Record]) -> bool:
    """Whether a log holds independent samples per question, so that accuracy at any N <= N_max can be
    read off it. A search's candidates share prefixes and an adaptive run stops on what it saw: their
    logs are one point each, never a curve over N. A record that does not say (written by hand;
    `ponder eval` always records the strategy) is taken as samples."""
    return bool(records) and all(r.get("strategy", "vote") in IID for r in records)


def check_iid(records: Sequence[Record], what: str) -> None:
    """A ConfigError naming the first strategy whose log `what` cannot learn from."""
    for r in records:
        if r.get("strategy", "vote") not in IID:
            raise ConfigError("log", r.get("strategy"), f"{what} needs logs of independent samples "
                                                        f"({', '.join(sorted(IID))}), e.g. ponder eval -s vote -n 16")


@dataclass(frozen=True, slots=True)
class Tally:
    key: str
    votes: int
    weight: float
    best: float
    members: tuple[int, ...]


def answer_keys(cands: Sequence[Candidate]) -> list[str | None]:
    """Each candidate's vote key (None: no answer); equivalent answers share a key (`group_keys`)."""
    return group_keys([c.answer for c in cands])


def tally_keys(keys: Sequence[str | None], scores: Sequence[float | None], *, weighted: bool) -> list[Tally]:
    """Vote tallies from precomputed keys, winner first (the eval harness subsamples with this)."""
    members: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        if k is not None:
            members.setdefault(k, []).append(i)
    out = []
    for key, idx in members.items():
        sc = [scores[i] or 0.0 for i in idx]
        out.append(Tally(key, len(idx), sum(sc) if weighted else float(len(idx)), max(sc), tuple(idx)))
    out.sort(key=lambda t: (-t.weight, -t.votes, -t.best, t.key))
    return out


def tally(cands: Sequence[Candidate], *, weighted: bool) -> list[Tally]:
    """Vote tallies, winner first."""
    return tally_keys(answer_keys(cands), [c.score for c in cands], weighted=weighted)


def n_grid(n_max: int) -> list[int]:
    """1, 2, 4, … up to n_max (n_max included)."""
    out, n = [], 1
    while n < n_max:
        out.append(n)
        n *= 2
    return out + [n_max] if n_max >= 1 else out


def _subsets(k: int, n: int, rng: random.Random, subsamples: int) -> list[tuple[int, ...]]:
    if n >= k:
        return [tuple(range(k))]
    if math.comb(k, n) <= subsamples:
        return list(itertools.combinations(range(k), n))
    return [tuple(sorted(rng.sample(range(k), n))) for _ in range(subsamples)]


class PreparedRecord:
    """A record's candidates reduced to what selection needs: vote keys, scores, correctness."""

    def __init__(self, rec: Record) -> None:
        cands = rec.get("candidates") or []
        self.keys = answer_keys([Candidate(text="", answer=c.get("answer")) for c in cands])
        self.scores = [c.get("score") for c in cands]
        self.correct = [bool(c.get("correct")) for c in cands]
        self.k = len(cands)
        toks = [c.get("tokens") for c in cands]
        self.mean_tokens = (sum(toks) / len(toks)) if toks and None not in toks else None
        self.wall = (rec.get("usage") or {}).get("wall_s")

    def accuracy(self, n: int, method: str, rng: random.Random, subsamples: int) -> float | None:
        if n > self.k or self.k == 0:
            return None
        if method == "oracle":
            c = sum(self.correct)
            return 1.0 - math.comb(self.k - c, n) / math.comb(self.k, n)
        if method in ("weighted", "naive") and any(s is None for s in self.scores):
            return None
        hits = [self.select_correct(sub, method) for sub in _subsets(self.k, n, rng, subsamples)]
        return sum(hits) / len(hits)

    def select_correct(self, sub: Sequence[int], method: str) -> bool:
        """Whether selecting among the candidates `sub` (indices) by `method` (majority, weighted,
        naive: the best score) gives a right answer."""
        if method == "naive":
            best = max(sub, key=lambda i: (self.scores[i], -i))  # scored logs only
            return self.correct[best]
        return self.vote_correct(sub, weighted=method == "weighted")

    def vote_correct(self, sub: Sequence[int], *, weighted: bool = False) -> bool:
        """Whether the vote over the candidates `sub` (indices) is right. A plain majority ignores
        scores, ties included (as the vote strategy does without a verifier)."""
        scores = [self.scores[i] for i in sub] if weighted else [None] * len(sub)
        t = tally_keys([self.keys[i] for i in sub], scores, weighted=weighted)
        return bool(t) and self.correct[sub[t[0].members[0]]]
