"""Benchmark: ponder's HTTP path against calling the server directly, and a fleet of 1, 2, 3 servers.

Starts llama-cpp-python's OpenAI-compatible server(s) with the embedded model on loopback, then:
- overhead: the same R chat requests (max_tokens T, seeds fixed) sent with plain httpx, and through
  ponder's OpenAIGenerator (vote@1 per request), sequentially; generated tokens per second;
- fleet: R requests sent concurrently through FleetGenerator over 1, 2 and 3 servers.
On a 2-core machine the servers share the same cores, so the fleet shows spreading and failover
cost, not scaling; on separate machines each endpoint adds its own throughput.

    python bench/perf/http_overhead.py --model smollm2-135m --requests 16 --max-tokens 48
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time

import httpx

from ponder import GenRequest, Message, OpenAIGenerator, SamplingParams
from ponder.backends.fleet import FleetGenerator
from ponder.models import resolve_model
from ponder.testing import start_llama_server


def question(i: int) -> str:
    return f"Write one sentence about the number {i}."


def direct(url: str, r: int, t: int) -> float:
    toks, t0 = 0, time.perf_counter()
    with httpx.Client(timeout=300) as c:
        for i in range(r):
            body = {"model": "m", "max_tokens": t, "seed": i, "temperature": 0.7,
                    "messages": [{"role": "user", "content": question(i)}]}
            toks += c.post(url + "/v1/chat/completions", json=body).json()["usage"]["completion_tokens"]
    return toks / (time.perf_counter() - t0)


def reqs(r: int, t: int) -> list[GenRequest]:
    return [GenRequest(messages=(Message("user", question(i)),), params=SamplingParams(max_tokens=t), seed=i)
            for i in range(r)]


def through_ponder(url: str, r: int, t: int) -> float:
    gen = OpenAIGenerator(url, model="m")

    async def go() -> int:
        total = 0
        for q in reqs(r, t):
            total += (await gen.generate([q]))[0].usage.completion_tokens
        return total

    t0 = time.perf_counter()
    toks = asyncio.run(go())
    return toks / (time.perf_counter() - t0)


def fleet(urls: list[str], r: int, t: int) -> float:
    gen = FleetGenerator(urls, model="m", timeout=300)
    t0 = time.perf_counter()
    out = asyncio.run(gen.generate(reqs(r, t)))
    return sum(x.usage.completion_tokens for x in out) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=48)
    args = ap.parse_args()
    path = resolve_model(args.model)
    servers = [start_llama_server(path) for _ in range(3)]
    try:
        urls = [u for _, u in servers]
        print(f"# {platform.machine()}, {os.cpu_count()} cores; {args.model} behind llama_cpp.server; "
              f"{args.requests} requests, max_tokens {args.max_tokens}")
        d = direct(urls[0], args.requests, args.max_tokens)
        p = through_ponder(urls[0], args.requests, args.max_tokens)
        print(f"| path | generated tokens/s |\n|---|---|\n| plain httpx, sequential | {d:.1f} |\n"
              f"| ponder OpenAIGenerator, sequential | {p:.1f} ({p / d:.0%} of direct) |")
        for k in (1, 2, 3):
            print(f"| ponder fleet of {k}, concurrent | {fleet(urls[:k], args.requests, args.max_tokens):.1f} |",
                  flush=True)
    finally:
        for proc, _ in servers:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
