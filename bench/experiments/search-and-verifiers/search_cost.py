"""Benchmark: what step-level search costs next to best-of-N at the same N, on the embedded model.

For each configuration it runs the same questions with the same seeds and reports wall seconds and
generated tokens per question (policy model; the LLM-as-PRM verdicts are separate: prompt tokens
evaluated and verdict tokens), with llama.cpp prefix reuse on and off:
  best-of-n   N samples, scored once by the LLM-as-PRM (whole solutions, last-step aggregate)
  beam        beam search, N beams, width M, scored step by step by the same LLM-as-PRM

    python bench/experiments/search-and-verifiers/search_cost.py --model qwen2.5-coder-0.5b \\
        --n 4 --width 2 --questions 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time

from ponder import Engine, Problem, SamplingParams
from ponder.backends.llamacpp import LlamaCppGenerator
from ponder.strategies.beam import BeamSearch
from ponder.strategies.best_of_n import BestOfN
from ponder.verifiers.llm_prm import LLMPRM

QUESTIONS = [
    "A store had 120 apples. It sold 35% of them on Monday and 1/3 of the remaining apples on Tuesday. "
    "How many apples are left?",
    "Tom buys 3 notebooks at $4 each and 2 pens at $1.50 each. He pays with a $20 bill. How much change does he get?",
    "A train travels 60 km per hour for 2.5 hours and then 80 km per hour for 1.5 hours. How far does it travel?",
    "Sara has twice as many stickers as Ben. Together they have 36 stickers. How many stickers does Sara have?",
]


def run(gen, strategy, questions, max_tokens) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    """Mean wall seconds, policy tokens and prompt tokens evaluated (policy and PRM) per question."""
    eng = Engine(gen, strategy, LLMPRM(gen), params=SamplingParams(temperature=0.7, max_tokens=max_tokens), seed=0)
    wall = toks = evaluated = 0.0
    for i, q in enumerate(questions):
        gen._cached = []  # every question starts cold
        t0 = time.perf_counter()
        res = asyncio.run(eng.asolve(Problem(prompt=q, id=f"q{i}")))
        wall += time.perf_counter() - t0
        # every scored step costs the LLM-as-PRM one verdict token (it reads P(yes) from logprobs)
        if strategy.name == "best-of-n":
            verdicts = len(res.candidates)
        else:
            verdicts = sum(len(e["nodes"]) for e in res.trace if e["event"] == "expand")
        toks += (res.usage.completion_tokens or 0) - verdicts
        # flops_estimate = 2 × params × (prompt tokens evaluated + generated), policy and verdicts together
        evaluated += res.usage.flops_estimate / (2 * gen.n_params) - (res.usage.completion_tokens or 0)
    k = len(questions)
    return wall / k, toks / k, evaluated / k


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--width", type=int, default=2)
    ap.add_argument("--questions", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=384)
    ap.add_argument("--step-tokens", type=int, default=96)
    ap.add_argument("--max-steps", type=int, default=8)
    args = ap.parse_args()
    qs = QUESTIONS[: args.questions]
    print(f"# {platform.machine()}, {os.cpu_count()} cores; {args.model}; N={args.n}, M={args.width}, "
          f"{len(qs)} questions, max_tokens {args.max_tokens}, step_tokens {args.step_tokens}")
    print("| strategy | prefix reuse | wall s / question | policy tokens / question |"
          " prompt tokens evaluated (policy + PRM) / question |")
    print("|---|---|---|---|---|")
    rows = {}
    for reuse in (True, False):
        gen = LlamaCppGenerator(args.model, n_ctx=16384, n_seq_max=16, prefix_reuse=reuse)
        for strat in (BestOfN(args.n), BeamSearch(args.n, width=args.width, max_steps=args.max_steps,
                                                   step_tokens=args.step_tokens)):
            w, t, e = run(gen, strat, qs, args.max_tokens)
            rows[(strat.name, reuse)] = w
            print(f"| {strat.name} | {'on' if reuse else 'off'} | {w:.1f} | {t:.0f} | {e:.0f} |", flush=True)
        gen.close()
    for reuse in (True, False):
        ratio = rows[("beam", reuse)] / rows[("best-of-n", reuse)]
        print(f"beam / best-of-n wall, prefix reuse {'on' if reuse else 'off'}: {ratio:.2f}×")


if __name__ == "__main__":
    main()
