"""Token sampling and logprobs from raw logits, in numpy, for backends that hand us logits (llama.cpp).

Why our own: we need per-sample seeded RNGs (the same seed gives the same sample whatever else is in
the batch), and logprobs of only the positions we sample, without asking llama.cpp for logits at every
position (`logits_all=True` costs ~60% of decode speed).
"""

from __future__ import annotations

import numpy as np

from ponder.params import SamplingParams

_NUCLEUS_PROBE = 2048


def sample_token(logits: np.ndarray, params: SamplingParams, rng: np.random.Generator) -> int:
    """Draw one token id from a 1-D logits row under temperature / top-k / top-p / min-p."""
    if params.greedy:
        return int(np.argmax(logits))
    x = logits.astype(np.float64) / params.temperature
    x -= x.max()
    p = np.exp(x)
    idx: np.ndarray | None = None  # None: the whole vocabulary
    if params.min_p > 0.0:
        idx = np.flatnonzero(p >= params.min_p)  # p.max() == 1 after the shift
    if params.top_k and (idx is None or len(idx) > params.top_k) and params.top_k < len(p):
        pool = np.arange(len(p)) if idx is None else idx
        idx = pool[np.argpartition(-p[pool], params.top_k - 1)[: params.top_k]]
    if params.top_p < 1.0:
        pool = np.arange(len(p)) if idx is None else idx
        total = p[pool].sum()
        if len(pool) > _NUCLEUS_PROBE:
            # The nucleus is a prefix of the sorted probabilities: if the top few already reach
            # top_p, sorting them alone is exact.
            head = pool[np.argpartition(-p[pool], _NUCLEUS_PROBE - 1)[:_NUCLEUS_PROBE]]
            if p[head].sum() >= params.top_p * total:
                pool = head
        order = pool[np.argsort(-p[pool], kind="stable")]
        cum = np.cumsum(p[order])
        cut = int(np.searchsorted(cum, params.top_p * total)) + 1
        idx = order[:cut]
    if idx is None:
        cum = np.cumsum(p)
        return int(min(np.searchsorted(cum, rng.random() * cum[-1], side="right"), len(p) - 1))
    cum = np.cumsum(p[idx])
    j = int(min(np.searchsorted(cum, rng.random() * cum[-1], side="right"), len(idx) - 1))
    return int(idx[j])


def sample_rows(logits: np.ndarray, params: SamplingParams, rngs: list[np.random.Generator]) -> list[int]:
    """`sample_token` for each row of a 2-D logits matrix (one row per sequence, same settings).

    Greedy and untruncated sampling (the default settings) run as whole-matrix numpy operations, which
    matters when a GPU decodes 64+ sequences a step and the host samples them; each row draws exactly
    what `sample_token` draws for it (row-wise exp and cumsum are the same arithmetic), so a sample
    does not depend on its neighbours. Truncated sampling (top-k, top-p, min-p) goes row by row."""
    if params.greedy:
        return [int(i) for i in np.argmax(logits, axis=1)]
    if params.top_k or params.top_p < 1.0 or params.min_p > 0.0 or len(rngs) == 1:
        return [sample_token(row, params, rng) for row, rng in zip(logits, rngs, strict=True)]
    x = logits.astype(np.float64) / params.temperature
    x -= x.max(axis=1, keepdims=True)
    np.exp(x, out=x)
    np.cumsum(x, axis=1, out=x)
    last = x.shape[1] - 1
    return [int(min(np.searchsorted(row, rng.random() * row[-1], side="right"), last))
            for row, rng in zip(x, rngs, strict=True)]


def token_logprobs(logits: np.ndarray, token: int, top: int) -> tuple[float, list[tuple[int, float]]]:
    """Log-probability of `token` under the model (temperature 1, no truncation) and the `top` most
    likely tokens with theirs."""
    x = logits.astype(np.float64)
    m = x.max()
    lse = m + np.log(np.exp(x - m).sum())
    alts: list[tuple[int, float]] = []
    if top > 0:
        ids = np.argpartition(-x, top - 1)[:top]
        ids = ids[np.argsort(-x[ids], kind="stable")]
        alts = [(int(i), float(x[i] - lse)) for i in ids]
    return float(x[token] - lse), alts
