"""Benchmark: several problems' samples in one transformers `generate` call (merge_requests) against one
call per problem, for an eval-style batch (problems run concurrently through the batching wrapper).

    python bench/perf/gpu/merge_requests.py --model DIR [--problems 8] [--n 8] -O device='"cuda"' -O dtype='"bfloat16"'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from ponder import Engine, Problem, SamplingParams
from ponder.backends.batching import BatchingGenerator
from ponder.backends.transformers import TransformersGenerator
from ponder.registry import make_strategy

QUESTIONS = [f"A box holds {k} pens and a shop has {k + 3} boxes. How many pens does the shop have?"
             for k in range(2, 40)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--problems", type=int, default=8)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--option", "-O", action="append", default=[])
    args = ap.parse_args()
    options = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.option)}
    gen = TransformersGenerator(args.model, **options)
    params = SamplingParams(max_tokens=args.max_tokens)
    problems = [Problem(prompt=q, id=str(i)) for i, q in enumerate(QUESTIONS[: args.problems])]

    async def batch() -> tuple[int, float]:
        wrapped = BatchingGenerator(gen, window_s=0.05, max_requests=args.problems)
        eng = Engine(wrapped, make_strategy("vote", args.n), params=params, seed=0)
        t0 = time.perf_counter()
        res = await asyncio.gather(*(eng.asolve(p) for p in problems))
        return sum(r.usage.completion_tokens or 0 for r in res), time.perf_counter() - t0

    print(f"# {gen.device}; {args.problems} problems × vote@{args.n}, max_tokens {args.max_tokens}")
    print("| merge_requests | generated tokens | wall s | tokens/s |\n|---|---|---|---|")
    gen.merge_requests = True
    asyncio.run(batch())  # warm-up
    for merge in (False, True):
        gen.merge_requests = merge
        toks, wall = asyncio.run(batch())
        print(f"| {merge} | {toks} | {wall:.1f} | {toks / wall:.1f} |", flush=True)


if __name__ == "__main__":
    main()
