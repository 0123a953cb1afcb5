"""A stopping rule learned from eval logs: after each round of samples, stop when more samples are
unlikely to change the vote's answer (or, with `target="outcome"`, whether it is right).

Fixed rules (Adaptive-Consistency's Beta rule, ESC's unanimous window) look only at the vote counts.
This rule also looks at what a self-consistency log teaches about the model: how the leader's share,
the runner-up, the number of distinct answers, missing answers, the samples' confidence and length
and the round predict whether the majority answer at k samples is already the answer at N_max. It is a
logistic model on the features below, fitted on the rounds of a log's questions, and its threshold
is calibrated on the same log (cross-fitted) to the fewest tokens for which the answer differs from
self-consistency@N_max's on at most `max_drop` of the questions (so accuracy cannot drop by more).

Two targets (`target`):
- `answer` (the default): stop when the vote is settled. It stops a question only once its answer
  is the one more samples would give.
- `outcome`: stop when the vote's *correctness* would not change: also when the samples scatter in
  a way that the log says more samples would not fix (questions beyond the model). It saves more on
  the fitting log, but the "beyond the model" stops do not transfer: on held-out arithmetic, two
  level-5 questions whose first samples scattered were stopped wrong, though sixteen samples found
  the answer (bench/experiments/compute-where-it-pays/). Its threshold is calibrated on accuracy within `max_drop`.
Fit it on one split and report on another; `ponder fit-stop` writes the JSON file that `--strategy
auto` reads (`--option rule=FILE`).

    ponder fit-stop runs/arith-fit-vote-n16 -o stop.json

The model is a small L2-regularised logistic regression solved by Newton's method in pure Python:
ten features and a few thousand rows do not justify making numpy or scikit-learn a dependency of the
core package.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ponder.errors import ConfigError
from ponder.strategies.adaptive import beta_leader_probability
from ponder.types import Candidate
from ponder.voting import Tally, answer_keys, check_iid, tally_keys

TARGETS = ("answer", "outcome")
FEATURES = ("round", "leader_share", "runner_share", "distinct", "no_answer", "beta",
            "leader_conf", "conf_gap", "log_tokens", "truncated")
VERSION = 1


def stop_features(keys: Sequence[str | None], scores: Sequence[float | None], tokens: Sequence[int | None],
                  finish: Sequence[str | None], n_max: int) -> list[float]:
    """Features of the first k samples of a question (k = len(keys)); see FEATURES."""
    k = max(len(keys), 1)
    t = tally_keys(keys, [None] * len(keys), weighted=False)
    v1 = t[0].votes if t else 0
    v2 = t[1].votes if len(t) > 1 else 0
    sc = [s for s in scores if s is not None]
    lead = [s for i in t[0].members if (s := scores[i]) is not None] if t else []
    rest = [s for i, s in enumerate(scores) if s is not None and (not t or i not in t[0].members)]
    leader_conf = sum(lead) / len(lead) if lead else (sum(sc) / len(sc) if sc else 0.0)
    gap = leader_conf - sum(rest) / len(rest) if rest and lead else 0.0
    toks = [x for x in tokens if x]
    return [len(keys) / max(n_max, 1), v1 / k, v2 / k, len(t) / k, sum(x is None for x in keys) / k,
            beta_leader_probability(v1, v2) if v1 else 0.0, leader_conf, gap,
            math.log1p(sum(toks) / len(toks)) if toks else 0.0, sum(f == "length" for f in finish) / k]


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (a is small and positive definite here)."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        piv = m[c][c] or 1e-12
        for r in range(c + 1, n):
            f = m[r][c] / piv
            if f:
                for j in range(c, n + 1):
                    m[r][j] -= f * m[c][j]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][j] * x[j] for j in range(r + 1, n))) / (m[r][r] or 1e-12)
    return x


def logistic_fit(x: Sequence[Sequence[float]], y: Sequence[int], *, l2: float = 1.0,
                 iters: int = 25) -> list[float]:
    """Weights (bias first) of an L2-regularised logistic regression, by Newton's method."""
    d = len(x[0]) + 1
    w = [0.0] * d
    rows = [[1.0, *r] for r in x]
    for _ in range(iters):
        grad = [l2 * w[j] if j else 0.0 for j in range(d)]
        hess = [[(l2 if i == j and i else 0.0) for j in range(d)] for i in range(d)]
        for r, t in zip(rows, y, strict=True):
            p = _sigmoid(sum(a * b for a, b in zip(w, r)))
            g, h = p - t, max(p * (1 - p), 1e-9)
            for i in range(d):
                grad[i] += g * r[i]
                hi = h * r[i]
                for j in range(i, d):
                    hess[i][j] += hi * r[j]
        for i in range(d):
            for j in range(i):
                hess[i][j] = hess[j][i]
        step = _solve(hess, grad)
        w = [a - b for a, b in zip(w, step)]
        if max(abs(s) for s in step) < 1e-8:
            break
    return w


@dataclass
class StopRule:
    """A fitted stopping rule (JSON-serialisable; `ponder fit-stop` writes one)."""

    weights: list[float]
    """Bias first, then one weight per standardised feature (FEATURES)."""
    mean: list[float]
    std: list[float]
    threshold: float
    """Stop when the predicted probability that stopping keeps the outcome is >= this (above 1: the
    log found no early stop that held accuracy, so the rule never stops early)."""
    round_size: int
    min_samples: int
    n_max: int
    uses_scores: bool
    """Fitted on confidence scores: the samples must carry them (auto asks for logprobs)."""
    fitted_on: dict[str, Any] = field(default_factory=dict)

    def probability(self, features: Sequence[float]) -> float:
        z = [(f - m) / s for f, m, s in zip(features, self.mean, self.std, strict=True)]
        return _sigmoid(self.weights[0] + sum(w * v for w, v in zip(self.weights[1:], z, strict=True)))

    def decide(self, cands: Sequence[Candidate], keys: Sequence[str | None] | None = None) -> tuple[bool, float]:
        """(stop?, probability) for the samples so far."""
        if len(cands) < self.min_samples:
            return False, 0.0
        keys = answer_keys(cands) if keys is None else keys
        f = stop_features(keys, [c.score for c in cands], [c.tokens for c in cands],
                          [c.finish_reason for c in cands], self.n_max)
        p = self.probability(f)
        return p >= self.threshold, p

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "ponder-stop-rule", "version": VERSION, "features": list(FEATURES), **asdict(self)}

    def save(self, path: str | os.PathLike) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)

    @classmethod
    def load(cls, path: str | os.PathLike) -> StopRule:
        from ponder.files import build, load_json
        from ponder.types import Candidate

        d = load_json(path, param="rule", what="stop-rule file")
        if not isinstance(d, dict) or d.get("kind") != "ponder-stop-rule" or d.get("version") != VERSION \
                or d.get("features") != list(FEATURES):
            raise ConfigError("rule", str(path), f"not a ponder stop-rule file (version {VERSION}); "
                                                 "write one with `ponder fit-stop`")
        keys = ("weights", "mean", "std", "threshold", "round_size", "min_samples", "n_max", "uses_scores", "fitted_on")
        return build(cls, d, keys, param="rule", path=path, what="stop-rule file",
                     check=lambda r: r.decide([Candidate(text="4", answer="4")] * 2, ["4", "4"]))


@dataclass
class _Question:
    keys: list[str | None]
    scores: list[float | None]
    tokens: list[int]
    finish: list[str | None]
    correct: list[bool]
    _leaders: dict[int, Tally | None] = field(default_factory=dict, repr=False, compare=False)
    """The majority of the first k samples, by k: calibration asks for it once per threshold tried."""

    def _leader(self, k: int) -> Tally | None:
        if k not in self._leaders:
            t = tally_keys(self.keys[:k], [None] * k, weighted=False)
            self._leaders[k] = t[0] if t else None
        return self._leaders[k]

    def majority_correct(self, k: int) -> bool:
        t = self._leader(k)
        return t is not None and self.correct[t.members[0]]

    def majority_key(self, k: int) -> str | None:
        t = self._leader(k)
        return t.key if t else None

    def settled(self, k: int, n_max: int, target: str) -> bool:
        """Whether stopping at k keeps what the target keeps at n_max."""
        if target == "answer":
            return self.majority_key(k) == self.majority_key(n_max)
        return self.majority_correct(k) == self.majority_correct(n_max)


def _questions(records: Sequence[dict[str, Any]]) -> list[_Question]:
    out = []
    for r in records:
        cands = r.get("candidates") or []
        if r.get("reference") is None or not cands:
            continue
        keys = answer_keys([Candidate(text="", answer=c.get("answer")) for c in cands])
        out.append(_Question(keys, [c.get("score") for c in cands], [int(c.get("tokens") or 0) for c in cands],
                             [c.get("finish_reason") for c in cands], [bool(c.get("correct")) for c in cands]))
    return out


def schedule(min_samples: int, round_size: int, n_max: int) -> list[int]:
    """The sample counts at which the rule is consulted: min_samples, then every round_size."""
    ks = list(range(min_samples, n_max, round_size))
    return ks + [n_max] if not ks or ks[-1] != n_max else ks


def _rows(qs: Sequence[_Question], ks: Sequence[int], n_max: int,
          target: str = "answer") -> tuple[list[list[float]], list[int], list[int]]:
    x, y, owner = [], [], []
    for qi, q in enumerate(qs):
        for k in ks[:-1]:
            x.append(stop_features(q.keys[:k], q.scores[:k], q.tokens[:k], q.finish[:k], n_max))
            y.append(int(q.settled(k, n_max, target)))
            owner.append(qi)
    return x, y, owner


def _standardise(x: Sequence[Sequence[float]]) -> tuple[list[float], list[float]]:
    d = len(x[0])
    mean = [sum(r[i] for r in x) / len(x) for i in range(d)]
    std = [max(1e-6, math.sqrt(sum((r[i] - mean[i]) ** 2 for r in x) / len(x))) for i in range(d)]
    return mean, std


Fit = tuple[list[float], list[float], list[float]]
"""(weights, feature means, feature standard deviations)."""


def _fit_weights(x: Sequence[Sequence[float]], y: Sequence[int], l2: float) -> Fit:
    mean, std = _standardise(x)
    z = [[(v - m) / s for v, m, s in zip(r, mean, std)] for r in x]
    return logistic_fit(z, y, l2=l2), mean, std


def simulate(qs: Sequence[_Question], probs: Sequence[Sequence[float]], ks: Sequence[int],
             threshold: float) -> tuple[float, float, float]:
    """(accuracy, generated tokens per question, share of questions whose answer is self-consistency@
    N_max's) when each question stops at the first k whose probability is >= threshold; probs[q][i]
    belongs to ks[i] (the last k always stops)."""
    acc = tok = same = 0.0
    for q, ps in zip(qs, probs, strict=True):
        stop = next((k for k, p in zip(ks[:-1], ps) if p >= threshold), ks[-1])
        acc += q.majority_correct(stop)
        tok += sum(q.tokens[:stop])
        same += q.majority_key(stop) == q.majority_key(ks[-1])
    return acc / len(qs), tok / len(qs), same / len(qs)


def fit_stop_rule(records: Sequence[dict[str, Any]], *, round_size: int = 2, min_samples: int = 2,
                  max_drop: float = 0.005, l2: float = 1.0, folds: int = 2, target: str = "answer") -> StopRule:
    """Fit a stopping rule on graded eval records holding N_max i.i.d. samples per question."""
    if target not in TARGETS:
        raise ConfigError("target", target, f"must be one of {', '.join(TARGETS)}")
    if round_size < 1 or min_samples < 1:
        raise ConfigError("round_size" if round_size < 1 else "min_samples", min(round_size, min_samples),
                          "must be >= 1")
    if not 0 <= max_drop < 1:
        raise ConfigError("max_drop", max_drop, "must be in [0, 1)")
    check_iid(records, "fit-stop")
    qs = _questions(records)
    if len(qs) < 2 * folds:
        raise ConfigError("log", len(qs), f"need at least {2 * folds} graded records with candidates")
    n_max = min(len(q.keys) for q in qs)
    if n_max <= min_samples:
        raise ConfigError("min_samples", min_samples, f"must be < the log's samples per question ({n_max})")
    for q in qs:
        for a in ("keys", "scores", "tokens", "finish", "correct"):
            setattr(q, a, getattr(q, a)[:n_max])
    uses_scores = all(s is not None for q in qs for s in q.scores)
    if not uses_scores:
        for q in qs:
            q.scores = [None] * n_max
    ks = schedule(min_samples, round_size, n_max)
    x, y, owner = _rows(qs, ks, n_max, target)
    # threshold: calibrated on cross-fitted probabilities (each question scored by a model that did not
    # see it), so it is not tuned to the model's own in-sample fit
    probs: list[list[float]] = [[] for _ in qs]
    for f in range(folds):
        train = [i for i, o in enumerate(owner) if o % folds != f]
        if not train or len({y[i] for i in train}) < 2:
            continue
        w, mean, std = _fit_weights([x[i] for i in train], [y[i] for i in train], l2)
        rule = StopRule(w, mean, std, 1.0, round_size, min_samples, n_max, uses_scores)
        for i, o in enumerate(owner):
            if o % folds == f:
                probs[o].append(rule.probability(x[i]))
    if any(len(p) != len(ks) - 1 for p in probs):  # a fold had one class only: never stop early
        probs = [[0.0] * (len(ks) - 1) for _ in qs]
    full_acc, full_tok, _ = simulate(qs, [[0.0] * (len(ks) - 1)] * len(qs), ks, 2.0)
    best = (2.0, full_acc, full_tok)
    for t in sorted({round(p, 6) for ps in probs for p in ps}):
        acc, tok, same = simulate(qs, probs, ks, t)
        holds = same >= 1 - max_drop - 1e-12 if target == "answer" else acc >= full_acc - max_drop - 1e-12
        if holds and tok < best[2]:
            best = (t, acc, tok)
    if len(set(y)) < 2:
        d = len(FEATURES)  # one class only: a constant model
        w, mean, std = [10.0 if y and y[0] else -10.0] + [0.0] * d, [0.0] * d, [1.0] * d
    else:
        w, mean, std = _fit_weights(x, y, l2)
    return StopRule(w, mean, std, best[0], round_size, min_samples, n_max, uses_scores,
                    fitted_on={"questions": len(qs), "rows": len(x), "target": target, "max_drop": max_drop, "l2": l2,
                               "self_consistency": {"accuracy": round(full_acc, 4), "tokens": round(full_tok, 1)},
                               "cross_fitted": {"accuracy": round(best[1], 4), "tokens": round(best[2], 1)}})
