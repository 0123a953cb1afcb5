"""Benchmark: ponder's vote@N through the vllm or transformers backend against calling that backend
directly with the same n, prompt tokens, sampling settings and seeds.

- direct: vLLM's own offline API (`vllm.LLM.generate` with `SamplingParams(n=N, seed=...)`, the prompt
  as token ids), transformers' `model.generate(num_return_sequences=N)`, or llama.cpp's own batched
  decoding as its `batched` example does it (the prompt decoded once and its KV cells copied to N
  sequences, one `llama_decode` per step, llama.cpp's C sampler chain per sequence), on the same
  model and context as ponder's side;
- ponder: `Engine(generator, vote@N).asolve(problem)` — prompt rendering, the generator call, answer
  extraction and the vote.
ponder runs first and its requests are recorded; the direct side replays exactly those (the same
prompt token ids, n, sampling settings and per-sample seeds), so both draw the same samples. Each
side runs the `--reps` questions `--rounds` times after a warm-up call (transformers: the sides
alternate); the figure is generated tokens per second of wall time in each side's best round.
vLLM's two sides are two engines of the same settings, loaded one after the other (ponder's async
engine, then the offline `LLM`).

    .venv-vllm/bin/python bench/perf/backend_overhead.py --backend vllm --model DIR
    .venv/bin/python bench/perf/backend_overhead.py --backend transformers --model DIR
    .venv/bin/python bench/perf/backend_overhead.py --backend llamacpp --model smollm2-135m [-O n_gpu_layers=-1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time

from ponder import Engine, GenRequest, Problem, SamplingParams
from ponder.backends.vllm import sample_seed
from ponder.registry import make_strategy
from ponder.testing import Watched

QUESTIONS = [
    "A baker makes 24 rolls and sells 3/4 of them. How many rolls are left?",
    "Tom has 15 marbles and gives 6 to Ann. Then he buys 9 more. How many marbles does he have?",
    "A train travels 60 km per hour for 2.5 hours. How far does it go?",
    "There are 7 rows of 8 chairs. 13 chairs are taken. How many are free?",
    "A shirt costs $20 and is 15% off. What is the sale price?",
    "Sam reads 12 pages a day. How many days does he need for a 180-page book?",
]


def through_ponder(gen, n: int, params: SamplingParams, questions: list[str]):  # type: ignore[no-untyped-def]
    """vote@n on each question; returns (tokens/s, tokens, the requests it sent)."""
    rec = Watched(gen)  # keeps the requests, for the direct side to replay

    async def go() -> int:
        total = 0
        for i, q in enumerate(questions):
            eng = Engine(rec, make_strategy("vote", n), params=params, seed=i)
            res = await eng.asolve(Problem(prompt=q, id=str(i)))
            total += res.usage.completion_tokens or 0
        return total

    t0 = time.perf_counter()
    toks = asyncio.run(go())
    return toks / (time.perf_counter() - t0), toks, rec.sent


def vllm_direct(model: str, options: dict, reqs: list[GenRequest], ids: list[list[int]],
                rounds: int) -> list[tuple[float, int]]:
    import vllm

    llm = vllm.LLM(model=model, **options)

    def one(r: GenRequest, prompt: list[int]) -> int:
        p = r.params
        sp = vllm.SamplingParams(n=r.n, temperature=p.temperature, top_p=p.top_p, top_k=p.top_k, min_p=p.min_p,
                                 max_tokens=p.max_tokens, stop=list(p.stop) or None, logprobs=p.logprobs,
                                 seed=sample_seed(r.seed, 0))
        [out] = llm.generate([{"prompt_token_ids": prompt}], sp, use_tqdm=False)
        return sum(len(o.token_ids) for o in out.outputs)

    one(reqs[0], ids[0])  # warm-up, as ponder's side had
    out = []
    for _ in range(rounds):
        toks, t0 = 0, time.perf_counter()
        for r, prompt in zip(reqs, ids, strict=True):
            toks += one(r, prompt)
        out.append((toks / (time.perf_counter() - t0), toks))
    return out


def requests_for_warmup(gen, n: int, params: SamplingParams) -> list[GenRequest]:  # type: ignore[no-untyped-def]
    return [GenRequest(prompt="Warm up: what is 1 + 1?", n=n, params=params, seed=0)]


def transformers_direct(gen, reqs: list[GenRequest]) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    import torch

    toks, t0 = 0, time.perf_counter()
    for r in reqs:
        p = r.params
        enc = gen.tokenizer(gen.render(r), return_tensors="pt", add_special_tokens=r.messages is None).to(gen.device)
        plen = enc["input_ids"].shape[1]
        torch.manual_seed(r.seed)
        with torch.no_grad():
            out = gen.model.generate(**enc, do_sample=True, temperature=p.temperature, top_p=p.top_p,
                                     top_k=p.top_k or None, min_p=p.min_p or None,
                                     max_new_tokens=p.max_tokens, num_return_sequences=r.n,
                                     pad_token_id=gen.tokenizer.pad_token_id or gen.tokenizer.eos_token_id)
        eos = set(gen._eos_ids())
        for row in out[:, plen:].tolist():
            toks += next((j + 1 for j, t in enumerate(row) if t in eos), len(row))
    return toks / (time.perf_counter() - t0), toks


def llamacpp_direct(gen, reqs: list[GenRequest]) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """llama.cpp's own batched sampling of the recorded requests, on ponder's model and context."""
    ll, ctx, mem = gen._ll, gen._ctx.ctx, gen._ctx.memory
    toks, t0 = 0, time.perf_counter()
    for r in reqs:
        p = r.params
        prompt = gen.tokenize(gen.render(r))
        ll.llama_memory_clear(mem, True)
        gen._cached = []  # ponder's side must not reuse what this side left in the cache
        for a in range(0, len(prompt) - 1, gen.n_batch):
            chunk = prompt[a: min(a + gen.n_batch, len(prompt) - 1)]
            gen._decode([(t, a + j, 0, False) for j, t in enumerate(chunk)])
        gen._decode([(prompt[-1], len(prompt) - 1, 0, True)])
        for k in range(1, r.n):
            ll.llama_memory_seq_cp(mem, 0, k, -1, -1)
        chains = []
        for k in range(r.n):
            ch = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
            if p.top_k:
                ll.llama_sampler_chain_add(ch, ll.llama_sampler_init_top_k(p.top_k))
            if p.top_p < 1.0:
                ll.llama_sampler_chain_add(ch, ll.llama_sampler_init_top_p(p.top_p, 1))
            ll.llama_sampler_chain_add(ch, ll.llama_sampler_init_temp(p.temperature))
            ll.llama_sampler_chain_add(ch, ll.llama_sampler_init_dist((r.seed or 0) * 1000 + k))
            chains.append(ch)
        live = [(k, len(prompt)) for k in range(r.n)]  # (sequence, position of its next token)
        counts = [0] * r.n
        idx = {k: 0 for k in range(r.n)}  # each live sequence's row in the last batch (-1: prompt row)
        first = True
        while live:
            nxt = []
            for k, pos in live:
                tok = ll.llama_sampler_sample(chains[k], ctx, 0 if first else idx[k])
                counts[k] += 1
                if not ll.llama_vocab_is_eog(gen._vocab, tok) and counts[k] < p.max_tokens:
                    nxt.append((k, pos, tok))
            first = False
            if nxt:
                gen._decode([(tok, pos, k, True) for k, pos, tok in nxt])
                idx = {k: j for j, (k, _, _) in enumerate(nxt)}
            live = [(k, pos + 1) for k, pos, _ in nxt]
        for ch in chains:
            ll.llama_sampler_free(ch)
        toks += sum(counts)
    gen._cached = []
    ll.llama_memory_clear(mem, True)
    return toks / (time.perf_counter() - t0), toks


def main() -> None:
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")  # keep the tables alone on stdout
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("vllm", "transformers", "llamacpp"), required=True)
    ap.add_argument("--model", required=True, help="A checkpoint directory (ponder convert-gguf) or HF id.")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--reps", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=2, help="Each side runs the questions this often; best round.")
    ap.add_argument("--option", "-O", action="append", default=[],
                    help="KEY=JSON backend option (vllm: e.g. enforce_eager=true).")
    args = ap.parse_args()
    options = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.option)}
    params = SamplingParams(max_tokens=args.max_tokens)
    questions = (QUESTIONS * args.reps)[:args.reps]
    print(f"# {platform.machine()}, {os.cpu_count()} cores; {args.backend} {args.model}; vote@{args.n}, "
          f"max_tokens {args.max_tokens}, {args.reps} questions")
    if args.backend == "vllm":
        from ponder.backends.vllm import VLLMGenerator

        options.setdefault("kv_cache_memory_bytes", 2 << 30)  # the same cache on both sides
        options.setdefault("enable_prefix_caching", True)
        with VLLMGenerator(args.model, **options) as gen:
            through_ponder(gen, args.n, params, ["Warm up: what is 1 + 1?"])
            runs = [through_ponder(gen, args.n, params, questions) for _ in range(args.rounds)]
            sent = runs[0][2]
            ids = [gen.render(r) for r in sent]
        directs = vllm_direct(args.model, options, sent, ids, args.rounds)
    else:
        if args.backend == "llamacpp":
            from ponder.backends.llamacpp import LlamaCppGenerator

            gen = LlamaCppGenerator(args.model, **options)
            direct = llamacpp_direct
        else:
            from ponder.backends.transformers import TransformersGenerator

            gen = TransformersGenerator(args.model, **options)
            direct = transformers_direct
        through_ponder(gen, args.n, params, ["Warm up: what is 1 + 1?"])
        direct(gen, requests_for_warmup(gen, args.n, params))
        runs, directs = [], []
        for _ in range(args.rounds):  # alternate the sides: the machine warms up over the first minutes
            runs.append(through_ponder(gen, args.n, params, questions))
            directs.append(direct(gen, runs[0][2]))
    p, pt, _ = max(runs, key=lambda r: r[0])
    d, dt = max(directs)
    print(f"| path | generated tokens | tokens/s |\n|---|---|---|\n| {args.backend} direct | {dt} | {d:.1f} |\n"
          f"| ponder vote@{args.n} | {pt} | {p:.1f} ({p / d:.0%} of direct) |")


if __name__ == "__main__":
    main()
