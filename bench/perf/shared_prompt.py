"""Benchmark: does ponder's vote@N decode its N samples together, as fast as raw llama.cpp can?

For each model it measures generated tokens per second (median of --reps runs) of:
  raw-1        raw llama.cpp low-level loop, one sequence (llama.cpp's own C sampler)
  raw-N        raw llama.cpp, N sequences sharing the prompt's KV cells, one batch per step
  raw-N-argmax the same with argmax sampling: the decode-only ceiling (greedy sequences may stop
               at different lengths than sampled ones, so compare rates, not totals)
  ponder-seq   ponder, N separate n=1 requests one after another (what a naive loop does)
  ponder-vote  ponder, MajorityVote(N) through the Engine (one request with n=N)
Every run uses the same GSM8K-style prompt, temperature 0.7 and max_tokens; sequences stop at
end-of-generation or max_tokens in every configuration.

    python bench/perf/shared_prompt.py --model qwen2.5-coder-0.5b --model smollm2-135m
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time

from ponder import Engine, GenRequest, Problem, SamplingParams
from ponder.backends.llamacpp import LlamaCppGenerator
from ponder.prompts import Prompter, build_request
from ponder.strategies.vote import MajorityVote

QUESTION = ("Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes "
            "muffins for her friends every day with four. She sells the remainder at the farmers' market "
            "daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?")


def raw_decode(gen: LlamaCppGenerator, tokens: list[int], n: int, max_tokens: int, seed: int,
               greedy: bool = False) -> int:
    """Plain llama.cpp: prompt once, copy KV to n sequences, one batch per step, C samplers
    (temperature 0.7 + seeded dist; or argmax when greedy, the decode-only ceiling)."""
    import llama_cpp as ll

    ctx, mem, vocab = gen._ctx.ctx, gen._ctx.memory, gen._vocab
    ll.llama_memory_clear(mem, True)
    batch = ll.llama_batch_init(max(len(tokens), n), 0, 1)
    try:
        def decode(entries):
            for j, (tok, pos, seq, want) in enumerate(entries):
                batch.token[j], batch.pos[j], batch.n_seq_id[j] = tok, pos, 1
                batch.seq_id[j][0], batch.logits[j] = seq, int(want)
            batch.n_tokens = len(entries)
            assert ll.llama_decode(ctx, batch) == 0

        decode([(t, i, 0, i == len(tokens) - 1) for i, t in enumerate(tokens)])
        for s in range(1, n):
            ll.llama_memory_seq_cp(mem, 0, s, -1, -1)
        samplers = []
        for s in range(n):
            ch = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
            if greedy:
                ll.llama_sampler_chain_add(ch, ll.llama_sampler_init_greedy())
            else:
                ll.llama_sampler_chain_add(ch, ll.llama_sampler_init_temp(0.7))
                ll.llama_sampler_chain_add(ch, ll.llama_sampler_init_dist(seed + s))
            samplers.append(ch)
        live = list(range(n))
        rows = {s: -1 for s in live}  # logits row of each live sequence in the last batch
        counts = dict.fromkeys(live, 0)
        pos = len(tokens)
        total = 0
        while live:
            nxt = []
            for s in live:
                tok = ll.llama_sampler_sample(samplers[s], ctx, rows[s])
                counts[s] += 1
                total += 1
                if not ll.llama_vocab_is_eog(vocab, tok) and counts[s] < max_tokens:
                    nxt.append((s, tok))
            live = [s for s, _ in nxt]
            if live:
                decode([(tok, pos, s, True) for s, tok in nxt])
                rows = {s: j for j, s in enumerate(live)}
            pos += 1
        for ch in samplers:
            ll.llama_sampler_free(ch)
        return total
    finally:
        ll.llama_batch_free(batch)
        gen._cached = []  # the raw loop invalidated ponder's prompt cache


def timed(fn, arg: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    toks = fn(arg)
    return time.perf_counter() - t0, toks


def bench_model(name: str, n: int, max_tokens: int, reps: int) -> list[tuple[str, float]]:
    gen = LlamaCppGenerator(name, n_ctx=8192, n_seq_max=max(16, n))
    problem = Problem(prompt=QUESTION)
    req = build_request(Prompter(), problem, chat=True, n=1,
                        params=SamplingParams(temperature=0.7, max_tokens=max_tokens), seed=0)
    tokens = gen.tokenize(gen.render(req))
    engine = Engine(gen, MajorityVote(n), params=SamplingParams(temperature=0.7, max_tokens=max_tokens))

    def ponder_seq(seed: int) -> int:
        total = 0
        for i in range(n):
            r = GenRequest(messages=req.messages, n=1, params=req.params, seed=seed * 1000 + i)
            total += gen.generate_sync([r])[0].usage.completion_tokens
        return total

    def ponder_vote(seed: int) -> int:
        e = Engine(gen, MajorityVote(n), params=engine.params, seed=seed)
        return asyncio.run(e.asolve(Problem(prompt=QUESTION, id=f"r{seed}"))).usage.completion_tokens

    configs = {
        "raw-1": lambda s: raw_decode(gen, tokens, 1, max_tokens, s),
        f"raw-{n}": lambda s: raw_decode(gen, tokens, n, max_tokens, s),
        f"raw-{n}-argmax": lambda s: raw_decode(gen, tokens, n, max_tokens, s, greedy=True),
        "ponder-seq": ponder_seq,
        f"ponder-vote@{n}": ponder_vote,
    }
    out = []
    for label, fn in configs.items():
        rates = []
        for rep in range(reps):
            dt, toks = timed(fn, rep + 1)
            rates.append(toks / dt)
        out.append((label, statistics.median(rates)))
        print(f"{name:22s} {label:16s} {statistics.median(rates):7.1f} tokens/s  "
              f"(runs: {', '.join(f'{r:.1f}' for r in rates)})", flush=True)
    gen.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", help="packaged model name or GGUF path (repeatable)")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    print(f"# {platform.machine()}, {os.cpu_count()} cores, n={args.n}, max_tokens={args.max_tokens}, "
          f"median of {args.reps}")
    rows = []
    for m in args.model or ["qwen2.5-coder-0.5b"]:
        rows.append((m, dict(bench_model(m, args.n, args.max_tokens, args.reps))))
    print("\n| model | raw 1 seq | ponder sequential | raw batched | raw batched argmax | ponder vote |"
          " vote / raw batched | vote / sequential |\n|---|---|---|---|---|---|---|---|")
    for m, r in rows:
        vote, raw_b = r[f"ponder-vote@{args.n}"], r[f"raw-{args.n}"]
        print(f"| {m} | {r['raw-1']:.1f} | {r['ponder-seq']:.1f} | {raw_b:.1f} | {r[f'raw-{args.n}-argmax']:.1f} | "
              f"{vote:.1f} | "
              f"{vote / raw_b:.0%} | {vote / r['ponder-seq']:.2f}× |")


if __name__ == "__main__":
    main()
