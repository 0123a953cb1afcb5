"""Benchmark: tokens saved by per-question early stopping, at what accuracy, on the embedded model.

Runs the same problems with the same seeds through: self-consistency@N (vote), adaptive
self-consistency (Beta rule, rounds of 4), and DeepConf online (4 warm-up traces, keep 90%), each
logged with `ponder.eval` (so runs resume and can be re-plotted), then prints accuracy, generated
tokens per problem (cut-off tokens included) and the token ratio to self-consistency.

    python bench/experiments/compute-where-it-pays/adaptive_compute.py --dataset arith --limit 20 --n 16 \\
        --model qwen2.5-coder-0.5b
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform

from ponder import Engine, SamplingParams
from ponder.backends.llamacpp import LlamaCppGenerator
from ponder.eval.datasets import load_dataset
from ponder.eval.metrics import summary
from ponder.eval.runner import RunDir, run_eval
from ponder.registry import make_strategy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="arith")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--max-tokens", type=int, default=384)
    ap.add_argument("--out", default="runs/bench-adaptive")
    args = ap.parse_args()
    problems = load_dataset(args.dataset, limit=args.limit)
    gen = LlamaCppGenerator(args.model, n_ctx=16384, n_seq_max=16)
    params = SamplingParams(temperature=0.7, max_tokens=args.max_tokens)
    configs = [("vote", {}), ("adaptive-vote", {"batch": 4, "threshold": 0.95}),
               ("deepconf", {"mode": "online", "warmup": 4, "keep": 0.9})]
    rows = []
    for name, opts in configs:
        out = f"{args.out}/{args.dataset}-{name}-n{args.n}"
        eng = Engine(gen, make_strategy(name, args.n, **opts), params=params, seed=0)
        config = {"dataset": args.dataset, "strategy": name, "n": args.n, "model": args.model,
                  "params": params.to_dict(), "options": opts}
        asyncio.run(run_eval(eng, problems, out, config=config))
        rows.append((name, summary(RunDir(out).records())))
    print(f"# {platform.machine()}, {os.cpu_count()} cores; {args.model}; {args.dataset} × {args.limit}, N={args.n}, "
          f"max_tokens {args.max_tokens}, seed 0")
    print("| strategy | accuracy % | generated tokens / problem | tokens vs self-consistency |")
    print("|---|---|---|---|")
    base = rows[0][1]["tokens_per_problem"]
    for name, s in rows:
        print(f"| {name} | {100 * s['accuracy']:.1f} | {s['tokens_per_problem']:.0f} | "
              f"{s['tokens_per_problem'] / base:.2f}× |")


if __name__ == "__main__":
    main()
