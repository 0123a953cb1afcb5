"""Benchmark: grouping N final answers into vote keys, the step every vote over N samples ends with.

Side by side in one run, on the same answers: `ponder.answers.group_keys` (each distinct answer
canonicalised once; math-verify only inside fingerprint buckets) and the pairwise grouping ponder used
before (each new answer compared with every group so far through `equivalent`, i.e. math-verify for
anything that is not a plain number). The old way runs only up to --old-max answers (it took a
minute for 64 free-text answers). Each timing starts from cold caches.

    .venv/bin/python bench/perf/grouping.py            # the table in bench/perf/README.md
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence

from ponder import answers
from ponder.answers import equivalent, group_keys, normalize


def pairwise_keys(values: Sequence[str | None]) -> list[str | None]:
    """The grouping ponder used before (kept here as the baseline)."""
    groups: dict[str, list[int]] = {}
    for i, a in enumerate(values):
        key = normalize(a)
        if key is None:
            continue
        if key not in groups:
            same = [k for k in groups if equivalent(k, key)]
            if same:
                key = min(same)
        groups.setdefault(key, []).append(i)
    keys: list[str | None] = [None] * len(values)
    for k, idx in groups.items():
        for i in idx:
            keys[i] = k
    return keys


def numeric(n: int, rng: random.Random) -> list[str | None]:
    """A weak model's numbers: a few popular values, a long tail, some formatting noise, no answers."""
    out: list[str | None] = []
    for _ in range(n):
        r = rng.random()
        v = rng.choice([52, 52, 52, 78, 130]) if r < 0.5 else rng.randint(1, 2000)
        out.append(None if r > 0.97 else rng.choice([str(v), f"{v}.0", f"${v:,}", f"{v} apples"]))
    return out


def free_text(n: int, rng: random.Random) -> list[str | None]:
    """Short sentences with numbers, as "the answer is ..." extraction returns them from a weak model."""
    subjects = ["The store has", "There are", "She will have", "The total cost is", "He needs"]
    return [f"{rng.choice(subjects)} {rng.randint(1, 300)} {rng.choice(['apples', 'dollars', 'boxes'])} left"
            for _ in range(n)]


def latex(n: int, rng: random.Random) -> list[str | None]:
    """MATH-style answers: equal values written differently (fractions, roots, decimals), some symbolic."""
    forms = [["\\frac{1}{2}", "0.5", "\\dfrac{1}{2}", "1/2"], ["3\\sqrt{2}", "\\sqrt{18}"], ["\\frac{\\pi}{4}"],
             ["2\\sqrt{3}", "\\sqrt{12}"], ["x^2+2x", "x(x+2)"], ["\\frac{3}{4}", "0.75"], ["(1, 2)"],
             ["\\sqrt{2}+1", "1+\\sqrt{2}"], ["\\frac{7}{3}"], ["[0, 1]"]]
    return [rng.choice(rng.choice(forms)) for _ in range(n)]


def timed(fn: Callable[[list[str | None]], list[str | None]], values: list[str | None]) -> tuple[float, int]:
    answers._canonical_expr.cache_clear()
    answers._parse.cache_clear()
    t0 = time.perf_counter()
    keys = fn(values)
    return time.perf_counter() - t0, len({k for k in keys if k is not None})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 512])
    ap.add_argument("--old-max", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sets", nargs="+", default=["numeric", "free text", "LaTeX"])
    args = ap.parse_args()
    group_keys(latex(16, random.Random(-1)))  # math-verify's and sympy's lazy imports, outside the timings
    print("| answers | N | group_keys ms | groups | pairwise (before) ms | groups | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for name, make in (("numeric", numeric), ("free text", free_text), ("LaTeX", latex)):
        if name not in args.sets:
            continue
        for n in args.sizes:
            values = make(n, random.Random(args.seed))
            new_s, new_g = timed(group_keys, values)
            if n <= args.old_max:
                old_s, old_g = timed(pairwise_keys, values)
                old = f"{old_s * 1e3:.0f} | {old_g} | {old_s / new_s:.0f}×"
            else:
                old = "— | — | —"
            print(f"| {name} | {n} | {new_s * 1e3:.1f} | {new_g} | {old} |", flush=True)


if __name__ == "__main__":
    main()
