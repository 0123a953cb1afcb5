"""Peer benchmark: ponder against its_hub and optillm on one llama.cpp server, identical workloads,
systems interleaved per question (`make bench-peers`; set up the peers with bench/experiments/peers/setup.sh).

One llama.cpp server holds the model: llama-cpp-python's (`--server llama-cpp-python`, one request at
a time, ignores `n`) or llama.cpp's own through the xllamacpp wheel (`--server xllamacpp`: 8 parallel
slots, continuous batching, `n` honoured). Every system reaches it through a small counting proxy
(one path prefix per system), so requests and tokens are counted at the server, not taken from what
each system reports (generated tokens: the server's usage for one choice; for several choices in one
response, whose usage llama.cpp's server under-reports, each choice's text through its /tokenize).
Per question, in a rotating order:
- its_hub 1.2 (`SelfConsistency`, budget N; `BestOfN` with its `LLMJudge`), driven by
  bench/experiments/peers/its_hub_worker.py in .venv-peers;
- optillm 0.4 as a proxy (`self_consistency-MODEL`: its own fixed 5 samples at temperature 1;
  `majority_voting-MODEL` with k=N, its N-sample vote; `bon-MODEL` with n=N);
- ponder with `--backend openai` to the same server (vote / best-of-n with the judge verifier), and
  ponder's embedded llama.cpp on the same GGUF (no server; all N samples in one batch); for best-of-N
  also with ponder's token-confidence scorer instead of a judge (no judge calls); and two more
  rows that are not self-consistency@N as the others run it: ponder's vote with llama.cpp's default
  top_k 40 (the sampling the peers' requests get; ponder's own default samples the full distribution),
  and `auto` (up to N samples in rounds, stopping once more would not change the vote).
Every answer is graded the same way (the last `\\boxed{}`, else ponder's extractor; math-verify
equivalence). One JSON line per (question, system) goes to --log (resumable); the table is printed at
the end and can be recomputed from the log with --report.

    .venv/bin/python bench/experiments/peers/run.py --dataset 'arith:seed=7[0:10]' --n 8 --server xllamacpp \
        --log bench/runs/peers/sc8-xllamacpp.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "src"))

import httpx  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import Response  # noqa: E402

from ponder.answers import equivalent, extract_answer  # noqa: E402
from ponder.testing import AppServer, free_port, start_llama_server  # noqa: E402

PEERS = ROOT / ".venv-peers" / "bin" / "python"


# ---- the counting proxy ---------------------------------------------------------------------------
class Counter:
    """Requests and tokens per system, as the server saw them (thread-safe: uvicorn runs in a thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stats: dict[str, dict[str, int]] = defaultdict(lambda: {"requests": 0, "prompt": 0, "completion": 0})

    def add(self, tag: str, usage: dict[str, Any] | None) -> None:
        with self.lock:
            s = self.stats[tag]
            s["requests"] += 1
            s["prompt"] += int((usage or {}).get("prompt_tokens") or 0)
            s["completion"] += int((usage or {}).get("completion_tokens") or 0)

    def take(self, tag: str) -> dict[str, int]:
        with self.lock:
            return dict(self.stats.pop(tag, {"requests": 0, "prompt": 0, "completion": 0}))


async def _completion_tokens(client: httpx.AsyncClient, upstream: str, data: dict[str, Any]) -> dict[str, Any]:
    """The response's usage, with completion tokens counted per choice when there are several."""
    usage = dict(data.get("usage") or {})
    choices = data.get("choices") or []
    if len(choices) > 1:
        total = 0
        for ch in choices:
            text = ((ch.get("message") or {}).get("content") if "message" in ch else ch.get("text")) or ""
            r = await client.post(f"{upstream}/tokenize", json={"content": text})
            total += len(r.json().get("tokens") or [])
        usage["completion_tokens"] = total
    return usage


def proxy_app(upstream: str, counter: Counter) -> FastAPI:
    app = FastAPI()
    client = httpx.AsyncClient(timeout=900)

    @app.api_route("/{tag}/v1/{path:path}", methods=["GET", "POST"])
    async def forward(tag: str, path: str, request: Request) -> Response:
        body = await request.body()
        r = await client.request(request.method, f"{upstream}/v1/{path}", content=body,
                                 headers={"content-type": request.headers.get("content-type", "application/json")})
        if request.method == "POST":
            try:
                counter.add(tag, await _completion_tokens(client, upstream, r.json()))
            except ValueError:
                counter.add(tag, None)
        return Response(r.content, status_code=r.status_code, media_type=r.headers.get("content-type"))

    return app


# ---- grading --------------------------------------------------------------------------------------
def graded(text: str, reference: str) -> tuple[str | None, bool]:
    ans = extract_answer(text or "")
    return ans, bool(ans is not None and equivalent(ans, reference))


# ---- the systems ----------------------------------------------------------------------------------
class Peers:
    def __init__(self, proxy: str, model: str, gguf: str, n: int, max_tokens: int, temperature: float) -> None:
        self.proxy, self.model, self.gguf = proxy, model, gguf
        self.n, self.max_tokens, self.temperature = n, max_tokens, temperature
        self.its_hub = subprocess.Popen([str(PEERS), str(Path(__file__).with_name("its_hub_worker.py"))],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        port = free_port()
        env = {**os.environ, "OPENAI_API_KEY": "none", "OPTILLM_API_KEY": ""}
        self.optillm = subprocess.Popen([str(PEERS), "-m", "optillm.server", "--base-url", f"{proxy}/optillm/v1",
                                         "--port", str(port), "--host", "127.0.0.1", "--best-of-n", str(n)],
                                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.optillm_url = f"http://127.0.0.1:{port}/v1"
        for _ in range(120):
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        from ponder.registry import make_generator

        self._embedded = make_generator("llamacpp", gguf)  # loaded before any timing

    def close(self) -> None:
        self.its_hub.stdin.close()  # type: ignore[union-attr]
        for p in (self.its_hub, self.optillm):
            p.terminate()
            p.wait(timeout=30)
        self._embedded.close()

    def run_its_hub(self, method: str, q: str) -> dict[str, Any]:
        job = {"id": 0, "question": q, "method": method, "n": self.n, "max_tokens": self.max_tokens,
               "temperature": self.temperature, "endpoint": f"{self.proxy}/its_hub/v1", "model": self.model}
        self.its_hub.stdin.write(json.dumps(job) + "\n")  # type: ignore[union-attr]
        self.its_hub.stdin.flush()  # type: ignore[union-attr]
        return json.loads(self.its_hub.stdout.readline())  # type: ignore[union-attr]

    def run_optillm(self, approach: str, q: str, extra: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        body = {"model": f"{approach}-{self.model}", "max_tokens": self.max_tokens, "temperature": self.temperature,
                "messages": [{"role": "user", "content": f"{q}\n\n{INSTRUCTION}"}], **extra}
        r = httpx.post(f"{self.optillm_url}/chat/completions", json=body, timeout=3600,
                       headers={"authorization": "Bearer none"})
        try:
            text = r.json()["choices"][0]["message"]["content"]
            return {"text": text, "wall_s": time.perf_counter() - t0}
        except (ValueError, KeyError, IndexError):
            return {"text": "", "error": f"HTTP {r.status_code}: {r.text[:200]}", "wall_s": time.perf_counter() - t0}

    def run_ponder(self, strategy: str, q: str, *, embedded: bool, top_k: int = 0,
                   verifier: str = "judge") -> dict[str, Any]:
        from ponder.engine import Engine
        from ponder.params import SamplingParams
        from ponder.registry import make_generator, make_strategy, make_verifier
        from ponder.types import Problem

        if embedded:
            gen = self._embedded
        else:
            gen = make_generator("openai", self.model, base_url=f"{self.proxy}/ponder/v1")
        scorer = make_verifier(verifier, gen) if strategy == "best-of-n" else None
        eng = Engine(gen, make_strategy(strategy, self.n), scorer,
                     params=SamplingParams(temperature=self.temperature, max_tokens=self.max_tokens, top_k=top_k),
                     seed=0)
        async def solve():  # type: ignore[no-untyped-def]
            try:
                return await eng.asolve(Problem(prompt=q))
            finally:
                if not embedded:
                    await gen.aclose()  # type: ignore[attr-defined]  # in the loop its client belongs to

        t0 = time.perf_counter()
        res = asyncio.run(solve())
        return {"text": res.text or "", "wall_s": time.perf_counter() - t0,
                "reported": {"completion": res.usage.completion_tokens, "prompt": res.usage.prompt_tokens,
                             "calls": res.usage.calls}}


INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."

WORKLOADS = {
    "sc": [("its_hub SelfConsistency", "its_hub", "self_consistency", {}),
           ("optillm self_consistency (5 samples, temperature 1)", "optillm", "self_consistency", {}),
           ("optillm majority_voting (k=N)", "optillm", "majority_voting", {"k": None}),
           ("ponder vote --backend openai", "ponder-http", "vote", {}),
           ("ponder vote, embedded llama.cpp", "ponder-embedded", "vote", {}),
           # not self-consistency@N: ponder's adaptive answer to the same question (up to N samples, in
           # rounds, stopping once more samples would not change the vote), over the same server
           ("ponder auto (up to N) --backend openai", "ponder-http", "auto", {}),
           # the sampling optillm's requests get (llama.cpp's default top_k 40; ponder's default is top_k
           # off, the full distribution, which costs llama.cpp's server ~12% more per token)
           ("ponder vote, top_k 40 --backend openai", "ponder-http", "vote", {"top_k": 40})],
    "bon": [("its_hub BestOfN + LLMJudge", "its_hub", "best_of_n", {}),
            ("optillm bon", "optillm", "bon", {}),
            ("ponder best-of-n + judge --backend openai", "ponder-http", "best-of-n", {}),
            ("ponder best-of-n + judge, embedded", "ponder-embedded", "best-of-n", {}),
            # not an LLM judge: ponder's token-confidence scorer (DeepConf's lowest group confidence, read
            # from the samples' own logprobs; no judge calls). A 0.5B model judging its own samples ranks
            # them worse than chance on arithmetic, so this is the scorer ponder recommends for self-scoring.
            ("ponder best-of-n + confidence --backend openai", "ponder-http", "best-of-n", {"verifier": "confidence"}),
            ("ponder best-of-n + confidence, embedded", "ponder-embedded", "best-of-n", {"verifier": "confidence"})],
}


def report(log: Path) -> None:
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    by = defaultdict(list)
    for r in rows:
        by[r["system"]].append(r)
    qs = len({r["problem_id"] for r in rows})
    print(f"\n{qs} questions, {log}\n")
    print("| system | correct | wall s / question | generated tokens / question (server) | requests / question |")
    print("|---|---|---|---|---|")
    for system, rs in by.items():
        k = len(rs)
        # the embedded system never reaches the server: its tokens are the ones it counted itself
        server = [r["server"] if r["server"]["requests"] else
                  {"completion": (r.get("reported") or {}).get("completion") or 0, "requests": 0} for r in rs]
        print(f"| {system} | {sum(r['correct'] for r in rs)}/{k} | {sum(r['wall_s'] or 0 for r in rs) / k:.1f} | "
              f"{sum(s['completion'] for s in server) / k:,.0f} | {sum(s['requests'] for s in server) / k:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="arith:seed=7[0:10]")
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--workload", choices=sorted(WORKLOADS), default="sc")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--server", choices=["llama-cpp-python", "xllamacpp"], default="xllamacpp")
    ap.add_argument("--log", required=True)
    ap.add_argument("--report", action="store_true", help="only print the table of an existing log")
    args = ap.parse_args()
    log = Path(args.log)
    if args.report:
        report(log)
        return
    if not PEERS.exists():
        sys.exit("no .venv-peers: run bench/experiments/peers/setup.sh first")
    from ponder.eval.datasets import load_dataset
    from ponder.models import resolve_model

    gguf = str(resolve_model(args.model))
    problems = load_dataset(args.dataset)
    log.parent.mkdir(parents=True, exist_ok=True)
    done = {(r["problem_id"], r["system"]) for r in map(json.loads, log.read_text().splitlines())} \
        if log.exists() else set()
    if args.server == "xllamacpp":
        proc = subprocess.Popen([str(PEERS), str(Path(__file__).with_name("xllamacpp_server.py")), gguf,
                                 str(free_port()), "8", "4096"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        upstream = proc.stdout.readline().strip().rstrip("/")  # type: ignore[union-attr]
        if not upstream.startswith("http"):
            sys.exit(f"xllamacpp server did not start ({upstream!r}); pip install xllamacpp in .venv-peers")
    else:
        proc, upstream = start_llama_server(gguf, n_ctx=8192, n_threads=os.cpu_count())
    counter = Counter()
    proxy = AppServer(proxy_app(upstream, counter))
    peers = Peers(proxy.url, args.model, gguf, args.n, args.max_tokens, args.temperature)
    systems = WORKLOADS[args.workload]
    try:
        for qi, p in enumerate(problems):
            order = systems[qi % len(systems):] + systems[:qi % len(systems)]  # rotate: no system always first
            for label, kind, method, extra in order:
                if (p.id, label) in done:
                    continue
                tag = {"ponder-http": "ponder", "ponder-embedded": "none"}.get(kind, kind)  # the proxy prefix
                counter.take(tag)
                if kind == "its_hub":
                    out = peers.run_its_hub(method, p.question)
                elif kind == "optillm":
                    out = peers.run_optillm(method, p.question, {k: (args.n if v is None else v)
                                                                 for k, v in extra.items()})
                else:
                    out = peers.run_ponder(method, f"{p.question}", embedded=kind == "ponder-embedded", **extra)
                ans, ok = graded(out.get("text", ""), p.answer)
                rec = {"problem_id": p.id, "level": p.meta.get("level"), "system": label, "answer": ans,
                       "reference": p.answer, "correct": ok, "wall_s": out.get("wall_s"),
                       "server": counter.take(tag), "error": out.get("error"), "reported": out.get("reported")}
                with log.open("a") as f:
                    f.write(json.dumps(rec) + "\n")
                print(f"{p.id} {label}: {ans} ({'ok' if ok else 'wrong'}) {rec['wall_s'] or 0:.1f}s "
                      f"{rec['server']}", flush=True)
    finally:
        peers.close()
        proxy.stop()
        proc.terminate()
        proc.wait(timeout=30)
    report(log)


if __name__ == "__main__":
    main()
