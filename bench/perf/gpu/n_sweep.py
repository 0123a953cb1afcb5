"""Benchmark: how sampling throughput grows with n (vote@n) on one backend — the figure that shows
what a GPU's batching buys test-time scaling. Generated tokens per second of wall time for vote@n,
n in --n, over the same questions; the engine-side share (wall time spent outside the backend's
generate call — rendering, answer extraction, grouping, the vote — as a share of the time inside it);
also the GPU's peak memory when torch sees a CUDA device.

    python bench/perf/gpu/n_sweep.py --backend transformers --model DIR -O device='"cuda"' -O dtype='"bfloat16"'
    python bench/perf/gpu/n_sweep.py --backend vllm --model DIR -O gpu_memory_utilization=0.8

Runs on a CPU too (slowly); `bench/perf/gpu/run.sh` runs the set on a CUDA machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time

from ponder import Engine, Problem, SamplingParams
from ponder.registry import make_generator, make_strategy
from ponder.testing import Watched

QUESTIONS = [
    "A baker makes 24 rolls and sells 3/4 of them. How many rolls are left?",
    "A train travels 60 km per hour for 2.5 hours. How far does it go?",
    "A shirt costs $20 and is 15% off. What is the sale price?",
]


class GpuUtil:
    """Mean GPU utilisation over a block, sampled by `nvidia-smi` every 100 ms (None without one)."""

    def __enter__(self) -> GpuUtil:
        self.mean: float | None = None
        self._proc = None
        if shutil.which("nvidia-smi"):
            self._file = tempfile.TemporaryFile(mode="w+")
            self._proc = subprocess.Popen(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                           "-i", "0", "-lms", "100"], stdout=self._file, stderr=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        self._proc.wait()
        self._file.seek(0)
        vals = [float(x) for x in self._file.read().split() if x.strip().replace(".", "", 1).isdigit()]
        self.mean = sum(vals) / len(vals) if vals else None


def device_name() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return f"{platform.machine()} CPU"


def main() -> None:
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")  # keep the tables alone on stdout
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("transformers", "vllm", "llamacpp"), required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--n", type=int, nargs="+", default=[1, 4, 16, 64])
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--option", "-O", action="append", default=[], help="KEY=JSON backend option.")
    args = ap.parse_args()
    options = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.option)}
    gen = Watched(make_generator(args.backend, args.model, **options))
    params = SamplingParams(max_tokens=args.max_tokens)
    print(f"# {device_name()}; {args.backend} {args.model} {options}; max_tokens {args.max_tokens}, "
          f"{len(QUESTIONS)} questions")
    print("| n | generated tokens | wall s | tokens/s | engine-side share | GPU util |\n|---|---|---|---|---|---|")

    async def run(n: int) -> tuple[int, float]:
        gen.inside = 0.0
        t0, toks = time.perf_counter(), 0
        for i, q in enumerate(QUESTIONS):
            res = await Engine(gen, make_strategy("vote", n), params=params, seed=i).asolve(Problem(prompt=q))
            toks += res.usage.completion_tokens or 0
        return toks, time.perf_counter() - t0

    asyncio.run(run(1))  # warm-up
    try:
        for n in args.n:
            with GpuUtil() as util:
                toks, wall = asyncio.run(run(n))
            share = (wall - gen.inside) / gen.inside if gen.inside else float("nan")
            gpu = "—" if util.mean is None else f"{util.mean:.0f}%"
            print(f"| {n} | {toks} | {wall:.1f} | {toks / wall:.1f} | {share:.1%} | {gpu} |", flush=True)
        try:
            import torch

            if torch.cuda.is_available() and args.backend == "transformers":
                print(f"\npeak GPU memory (torch): {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
        except ImportError:
            pass
    finally:
        close = getattr(gen.inner, "close", None)
        if callable(close):
            close()


if __name__ == "__main__":
    main()
