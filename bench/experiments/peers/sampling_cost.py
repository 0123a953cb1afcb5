"""What sampling the full distribution costs llama.cpp's server: the same n = 8 request, interleaved,
with ponder's sampling fields (top_k 0, min_p 0, no repeat penalty), with none (the server's defaults:
top_k 40, min_p 0.05, repeat penalty 1.1) and with top_k 40 alone. Generated tokens are counted per
choice with the server's /tokenize. Runs llama.cpp's own server from .venv-peers (xllamacpp).

    .venv/bin/python bench/experiments/peers/sampling_cost.py [--model qwen2.5-coder-0.5b] [--reps 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "src"))

from ponder.models import resolve_model  # noqa: E402
from ponder.testing import free_port  # noqa: E402

Q = ("A farmer has 17 cows and buys 3 times as many sheep as cows, then sells 12 sheep. How many animals "
     "does he have?\n\nPlease reason step by step, and put your final answer within \\boxed{}.")
VARIANTS = {"top_k 0, min_p 0, repeat_penalty 1 (ponder)": {"top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0},
            "server defaults (what optillm's requests get)": {},
            "top_k 40, min_p 0, repeat_penalty 1": {"top_k": 40, "min_p": 0.0, "repeat_penalty": 1.0}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    proc = subprocess.Popen([str(ROOT / ".venv-peers/bin/python"), str(Path(__file__).with_name("xllamacpp_server.py")),
                             str(resolve_model(args.model)), str(free_port()), "8", "4096"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = proc.stdout.readline().strip().rstrip("/")  # type: ignore[union-attr]
    totals = {k: [0.0, 0] for k in VARIANTS}
    try:
        for rep in range(args.reps):
            for name, extra in VARIANTS.items():
                body = {"messages": [{"role": "user", "content": Q}], "n": 8, "max_tokens": 384,
                        "temperature": 0.7, "top_p": 1.0, "seed": 100 + rep, **extra}
                t0 = time.perf_counter()
                data = httpx.post(url + "/v1/chat/completions", json=body, timeout=900).json()
                dt = time.perf_counter() - t0
                texts = [c["message"]["content"] for c in data["choices"]]
                toks = sum(len(httpx.post(url + "/tokenize", json={"content": t}).json()["tokens"]) for t in texts)
                totals[name][0] += dt
                totals[name][1] += toks
                print(f"{name}: seed {100 + rep}: {toks} tokens in {dt:.1f} s", flush=True)
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(timeout=30)
    for name, (dt, toks) in totals.items():
        print(f"| {name} | {toks / dt:.1f} tokens/s |")


if __name__ == "__main__":
    main()
