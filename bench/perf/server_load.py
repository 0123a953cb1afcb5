"""Load benchmark: many concurrent clients against `ponder serve` on loopback.

Starts the app in-process (uvicorn on a free port), then C concurrent clients each send R chat
requests (strategy vote, n samples). Reports requests/s, generated tokens/s, p50/p99 latency and
errors, with dynamic batching on and off.

    python bench/perf/server_load.py --backend fake --clients 64 --requests 4
    python bench/perf/server_load.py --backend llamacpp --model smollm2-135m --clients 64 --requests 1 --n 2 \\
        --max-tokens 32
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time

import httpx

from ponder import Scripted, ScriptedGenerator
from ponder.params import SamplingParams
from ponder.server.app import ServerConfig, create_app
from ponder.testing import AppServer


async def load(url: str, clients: int, requests: int, n: int, max_tokens: int) -> dict:
    lat: list[float] = []
    errors = 0
    tokens = 0

    async def client(c: int, http: httpx.AsyncClient) -> None:
        nonlocal errors, tokens
        for r in range(requests):
            body = {"model": f"vote-{n}/bench", "max_tokens": max_tokens, "seed": c * 1000 + r,
                    "messages": [{"role": "user", "content": f"Client {c} asks: what is {c} + {r}?"}]}
            t0 = time.perf_counter()
            try:
                resp = await http.post(url + "/v1/chat/completions", json=body)
                resp.raise_for_status()
                tokens += resp.json()["usage"]["completion_tokens"] or 0
            except httpx.HTTPError:
                errors += 1
            lat.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=600, limits=limits) as http:
        await asyncio.gather(*(client(c, http) for c in range(clients)))
    wall = time.perf_counter() - t0
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [lat[0]] * 99
    return {"requests": len(lat), "errors": errors, "wall_s": wall, "rps": len(lat) / wall,
            "tokens_s": tokens / wall, "p50": statistics.median(lat), "p99": q[98]}


class Serial:
    """A fake backend that, like one llama.cpp context, runs one call at a time, each costing a
    fixed delay whatever its size (a batch step costs about the same for 1 or 16 sequences)."""

    def __init__(self, inner: ScriptedGenerator) -> None:
        self.inner, self.lock, self.calls = inner, asyncio.Lock(), 0
        self.name, self.capabilities = inner.name, inner.capabilities

    async def generate(self, requests, *, progress=None):  # type: ignore[no-untyped-def]
        async with self.lock:
            self.calls += 1
            return await self.inner.generate(requests, progress=progress)


def make_generator(args):  # type: ignore[no-untyped-def]
    if args.backend == "fake":
        return Serial(ScriptedGenerator(lambda r, i, rng: Scripted(f"step {i} so \\boxed{{{i % 3}}}"),
                                        delay_s=args.fake_delay))
    from ponder.backends.llamacpp import LlamaCppGenerator

    return LlamaCppGenerator(args.model, n_ctx=8192, n_seq_max=16)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["fake", "llamacpp"], default="fake")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--requests", type=int, default=4, help="per client")
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--fake-delay", type=float, default=0.02, help="seconds per backend call (fake)")
    args = ap.parse_args()
    gen = make_generator(args)
    print(f"# {platform.machine()}, {os.cpu_count()} cores; backend {args.backend}"
          f"{'' if args.backend == 'fake' else ' ' + args.model}; {args.clients} clients × {args.requests} "
          f"requests, vote-{args.n}, max_tokens {args.max_tokens}")
    print("| dynamic batching | requests | errors | req/s | gen tokens/s | p50 s | p99 s | backend calls |")
    print("|---|---|---|---|---|---|---|---|")
    for batching in (False, True):
        cfg = ServerConfig(model_name="bench", params=SamplingParams(max_tokens=args.max_tokens),
                           max_batch=16 if batching else 1, batch_window_s=0.01, max_n=64)
        app = create_app(gen, cfg)
        server = AppServer(app)
        calls_before = getattr(gen, "calls", None)
        r = asyncio.run(load(server.url, args.clients, args.requests, args.n, args.max_tokens))
        server.stop()
        g = app.state.ponder.generator
        calls = len(g.batches) if hasattr(g, "batches") else (
            gen.calls - calls_before if calls_before is not None else r["requests"])
        print(f"| {'on' if batching else 'off'} | {r['requests']} | {r['errors']} | {r['rps']:.1f} | "
              f"{r['tokens_s']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {calls} |", flush=True)
        time.sleep(0.5)


if __name__ == "__main__":
    main()
