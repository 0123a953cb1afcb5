"""Benchmark: what a misbehaving client, a hostile option or a hostile file can make ponder do,
measured on loopback.

Scenarios (each against a fresh `create_app`, uvicorn on 127.0.0.1):
1. a 50 MB chunked body (no Content-Length) at the default 1 MiB limit: status, seconds to the answer;
2. four clients trickling their bodies at `max_inflight=4`: what a normal client gets meanwhile;
3. a stream dropped by its client on the embedded model (SmolLM2, max_tokens 1500): how long the
   next request waits for the backend (the dropped stream's decode must stop, not run to the end);
4. an upstream that accepts a request and goes silent, `--request-timeout 3`: status and seconds;
5. fairness on the embedded model (SmolLM2): a greedy 4-token request sent while an n=16 request
   decodes (max_tokens 256): its latency, against the same request on an idle server;
6. 500 malformed request bodies (random mutations of a valid one: wrong types, missing or unknown
   fields, huge or negative numbers, broken JSON, odd unicode): how many got a clean 4xx in OpenAI's
   error shape, how many a 5xx;
7. every strategy a request may name × its declared options, with out-of-range, wrong-type and huge
   values (scripted backend, and a smaller run on the embedded SmolLM2): 4xx/5xx, and the most work
   any request did against the bound the server admitted it at (sequences, tokens);
8. options that multiply work (cascade probe=1000000) and a request loosening the operator's FLOP
   budget (route flops=1e30): status and seconds;
9. a non-streamed request whose client leaves: seconds until its backend is told to stop;
10. 8 clients that stream live events of n=64 requests and never read: server memory growth;
11. a 120 MB run log behind the runs browser, 12 concurrent list requests: peak and kept memory,
    seconds for the first and a repeated listing;
12. hostile files on the command line (a YAML alias bomb as a recipe, /dev/zero as a stop rule,
    JSON nested 10^5 deep as a policy): exit status, and whether a traceback was printed.

    python bench/perf/reliability.py            # everything (the SmolLM2 rows need the packaged model)
    python bench/perf/reliability.py --fast     # the scripted-backend rows only
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from ponder import ScriptedGenerator  # noqa: E402
from ponder.server.app import ServerConfig, create_app  # noqa: E402
from ponder.testing import AppServer, Watched  # noqa: E402

ASK = {"model": "m", "messages": [{"role": "user", "content": "What is 6*7?"}]}


def chunked_body() -> tuple[int, float]:
    s = AppServer(create_app(ScriptedGenerator(["\\boxed{42}"]), ServerConfig(model_name="m")))
    try:
        def chunks():  # type: ignore[no-untyped-def]
            for _ in range(50 * 16):
                yield b" " * 65536
        t0 = time.monotonic()
        try:
            status = httpx.post(s.url + "/v1/chat/completions", content=chunks(), timeout=60).status_code
        except httpx.HTTPError:  # the server answered 413 and closed while the client was still sending
            status = 413
        return status, time.monotonic() - t0
    finally:
        s.stop()


def slow_bodies() -> tuple[int, float]:
    s = AppServer(create_app(ScriptedGenerator(["\\boxed{42}"]), ServerConfig(model_name="m", max_inflight=4)))
    socks = []
    try:
        for _ in range(4):
            c = socket.create_connection(("127.0.0.1", s.port))
            c.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                      b"content-length: 1000\r\n\r\n{\"model\": ")
            socks.append(c)
        time.sleep(0.5)
        t0 = time.monotonic()
        r = httpx.post(s.url + "/v1/chat/completions", json=ASK, timeout=60)
        return r.status_code, time.monotonic() - t0
    finally:
        for c in socks:
            c.close()
        s.stop()


def dropped_stream() -> tuple[float, float]:
    from ponder.backends.llamacpp import LlamaCppGenerator

    gen = LlamaCppGenerator("smollm2-135m", n_ctx=4096, n_seq_max=8)
    s = AppServer(create_app(gen, ServerConfig(model_name="m", n=2, max_tokens=2048)))
    try:
        body = {**ASK, "stream": True, "max_tokens": 1500,
                "messages": [{"role": "user", "content": "Write a very long story about a dragon."}]}
        with httpx.stream("POST", s.url + "/v1/chat/completions", json=body, timeout=120) as r:
            for i, _ in enumerate(r.iter_lines()):
                if i > 6:
                    break  # the client goes away mid-stream
        t0 = time.monotonic()
        httpx.post(s.url + "/v1/chat/completions", json={**ASK, "max_tokens": 8}, timeout=300)
        wait = time.monotonic() - t0
        t0 = time.monotonic()
        httpx.post(s.url + "/v1/chat/completions", json={**ASK, "max_tokens": 8}, timeout=300)
        return wait, time.monotonic() - t0
    finally:
        s.stop()
        gen.close()


def small_behind_big() -> tuple[float, float, float]:
    import threading

    from ponder.backends.llamacpp import LlamaCppGenerator

    gen = LlamaCppGenerator("smollm2-135m", n_ctx=8192, n_seq_max=32)
    s = AppServer(create_app(gen, ServerConfig(model_name="m", max_tokens=2048)))
    small = {**ASK, "model": "greedy/m", "max_tokens": 4}
    try:
        t0 = time.monotonic()
        httpx.post(s.url + "/v1/chat/completions", json=small, timeout=300)
        idle = time.monotonic() - t0
        big = {**ASK, "model": "vote-16/m", "max_tokens": 256,
               "messages": [{"role": "user", "content": "Write a long story about a dragon."}]}
        done: dict[str, float] = {}

        def send_big() -> None:
            t = time.monotonic()
            httpx.post(s.url + "/v1/chat/completions", json=big, timeout=600)
            done["big"] = time.monotonic() - t
        th = threading.Thread(target=send_big)
        th.start()
        time.sleep(2.0)  # the big request is decoding
        t0 = time.monotonic()
        httpx.post(s.url + "/v1/chat/completions", json=small, timeout=600)
        behind = time.monotonic() - t0
        th.join()
        return behind, idle, done["big"]
    finally:
        s.stop()
        gen.close()


def hung_upstream() -> tuple[int, float]:
    from ponder.backends.openai_http import OpenAIGenerator

    async def hang(request):  # type: ignore[no-untyped-def]
        await asyncio.sleep(120)
        return httpx.Response(200, json={})

    up = OpenAIGenerator("http://upstream.test", model="m", max_retries=0, transport=httpx.MockTransport(hang))
    s = AppServer(create_app(up, ServerConfig(model_name="m", request_timeout_s=3.0)))
    try:
        t0 = time.monotonic()
        r = httpx.post(s.url + "/v1/chat/completions", json=ASK, timeout=300)
        return r.status_code, time.monotonic() - t0
    finally:
        s.stop()


def fuzz(count: int = 500, seed: int = 0) -> tuple[int, int, int]:
    """(clean 4xx in OpenAI's shape, 2xx, 5xx or unshaped) over `count` mutated bodies."""
    import json
    import random

    from fastapi.testclient import TestClient

    rng = random.Random(seed)
    client = TestClient(create_app(ScriptedGenerator(["\\boxed{42}"]), ServerConfig(model_name="m", max_n=8)))
    junk = [None, True, -1, 0, 10**12, 1.5e308, "x", "", "\ud800", [], {}, [1, "a"], {"a": {"b": []}}]
    fields = ["model", "messages", "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed",
              "n", "stream", "ponder", "prompt"]
    ok4 = ok2 = bad = 0
    for _ in range(count):
        body: dict = {"model": "m", "messages": [{"role": "user", "content": "6*7?"}], "max_tokens": 8}
        for _ in range(rng.randint(1, 3)):
            f = rng.choice(fields)
            if f == "ponder":
                body[f] = {rng.choice(["strategy", "n", "verifier", "options", "budget", "x"]): rng.choice(junk)}
            elif f == "messages" and rng.random() < 0.5:
                body[f] = [{"role": rng.choice(["user", "x", 3]), "content": rng.choice(junk)}]
            elif rng.random() < 0.2:
                body.pop(f, None)
            else:
                body[f] = rng.choice(junk)
        raw = json.dumps(body).encode()
        if rng.random() < 0.1:
            raw = raw[: rng.randint(0, len(raw))]  # torn JSON
        path = "/v1/completions" if "prompt" in body else "/v1/chat/completions"
        r = client.post(path, content=raw, headers={"content-type": "application/json"})
        shaped = r.status_code < 400 or set(r.json().get("error", {})) >= {"message", "type", "param", "code"}
        if 400 <= r.status_code < 500 and shaped:
            ok4 += 1
        elif r.status_code < 300:
            ok2 += 1
        else:
            bad += 1
    return ok4, ok2, bad


def option_fuzz(count: int = 600, seed: int = 0, smollm: bool = False) -> tuple[int, int, int, float, float]:
    """Every served strategy × its options with hostile values: (4xx, 2xx, 5xx, the highest share of
    the admitted sequences a request used, and of the admitted tokens)."""
    import random

    from fastapi.testclient import TestClient

    from ponder.registry import builtin_strategies

    rng = random.Random(seed)
    if smollm:
        from ponder.backends.llamacpp import LlamaCppGenerator

        gen: Any = LlamaCppGenerator("smollm2-135m", n_ctx=4096, n_seq_max=8)
    else:
        gen = ScriptedGenerator(["so \\boxed{5}", "first\n\nthen \\boxed{7}",
                                 " ".join(["w"] * 80) + " \\boxed{5}"], parameters=1e8)
    watched = Watched(gen)
    cfg = ServerConfig(model_name="m", batch_window_s=0, max_n=16, max_tokens=64, max_samples=200,
                       max_request_tokens=4000 if smollm else 20_000, request_timeout_s=120)
    client = TestClient(create_app(watched, cfg))
    served = [n for n, sp in builtin_strategies().items() if sp.server]
    junk = [None, True, -1, 0, 1, 2, 3, 8, 10**6, 10**12, 1e30, 0.5, 2.5, "x", "", "last", "offline", [], {}]
    ok4 = ok2 = bad = 0
    most_seq = most_tok = 0.0
    for _ in range(count):
        name = rng.choice(served)
        fields = list(builtin_strategies()[name].options.model_fields) + ["colour"]
        opts = {rng.choice(fields): rng.choice(junk) for _ in range(rng.randint(0, 3))}
        body = {"model": "m", "max_tokens": rng.choice([8, 16, 64, 10**9]),
                "messages": [{"role": "user", "content": "What is 2 + 3?"}],
                "ponder": {"strategy": name, "n": rng.choice([1, 2, 4, 8, 16, 17, -1]), "options": opts}}
        before = len(watched.sent)
        r = client.post("/v1/chat/completions", json=body)
        if r.status_code >= 500:
            bad += 1
        elif r.status_code >= 400:
            ok4 += 1
        else:
            ok2 += 1
            bound = r.json()["ponder"]["bound"]
            seqs = sum(q.n for q in watched.sent[before:] if not (q.params.max_tokens <= 8 and q.messages and
                                                                   "correct" in q.messages[-1].content.lower()))
            most_seq = max(most_seq, seqs / bound["samples"])
            most_tok = max(most_tok, (r.json()["usage"]["completion_tokens"] or 0) / bound["tokens"])
    if smollm:
        gen.close()
    return ok4, ok2, bad, most_seq, most_tok


def multiplied_and_loosened() -> tuple[tuple[int, float], tuple[int, float]]:
    """(status, seconds) of cascade probe=1000000, and of route flops=1e30 over an operator's 5e11."""
    import tempfile

    from fastapi.testclient import TestClient

    from ponder.allocation.route_table import fit_route

    gen, big = ScriptedGenerator(["so \\boxed{5}"]), ScriptedGenerator(["so \\boxed{5}"])
    c = TestClient(create_app(gen, ServerConfig(model_name="m", strategy="cascade", options={"large": "big"},
                                                batch_window_s=0), arms={"big": big}))
    t0 = time.monotonic()
    r = c.post("/v1/chat/completions", json={**ASK, "ponder": {"options": {"probe": 1_000_000}}})
    first = (r.status_code, time.monotonic() - t0)

    def log(params: float) -> list[dict]:
        return [{"problem_id": f"p{i}", "seed": 0, "strategy": "vote", "reference": "5", "correct": True,
                 "candidates": [{"answer": "5", "correct": True, "tokens": 50, "score": None}] * 8,
                 "usage": {"prompt_tokens": 20, "completion_tokens": 400, "flops_estimate": 2 * params * 420}}
                for i in range(10)]

    with tempfile.TemporaryDirectory() as d:
        fit_route([("small", log(0.5e9)), ("large", log(1.5e9))], probe=2).save(f"{d}/t.json")
        c = TestClient(create_app(ScriptedGenerator(["\\boxed{5}"]),
                                  ServerConfig(model_name="m", strategy="route", batch_window_s=0,
                                               options={"table": f"{d}/t.json", "flops": 5e11}),
                                  arms={"large": ScriptedGenerator(["\\boxed{5}"])}))
        t0 = time.monotonic()
        r = c.post("/v1/chat/completions", json={**ASK, "ponder": {"options": {"flops": 1e30}}})
        second = (r.status_code, time.monotonic() - t0)
    return first, second


def left_without_reading() -> float:
    """Seconds from a client leaving a non-streamed request to its backend being told to stop."""
    gen = ScriptedGenerator(["\\boxed{42}"], delay_s=60)
    s = AppServer(create_app(gen, ServerConfig(model_name="m", batch_window_s=0)))
    try:
        try:
            httpx.post(s.url + "/v1/chat/completions", json=ASK, timeout=0.5)
        except httpx.HTTPError:
            pass
        t0 = time.monotonic()
        while not (gen.requests and gen.requests[-1].cancel.is_set()) and time.monotonic() - t0 < 30:
            time.sleep(0.01)
        return time.monotonic() - t0
    finally:
        s.stop()


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def unread_feeds(clients: int = 8) -> tuple[float, float]:
    """Server memory (MB) before and while `clients` streams of n=64 live events go unread."""
    words = " ".join(f"w{i}" for i in range(300))
    gen = ScriptedGenerator([words + " \\boxed{4}"], word_delay_s=0.0)
    s = AppServer(create_app(gen, ServerConfig(model_name="m", batch_window_s=0, max_tokens=512)))
    socks = []
    try:
        before = rss_mb()
        body = json.dumps({**ASK, "stream": True, "max_tokens": 400,
                           "ponder": {"strategy": "vote", "n": 64, "events": True}}).encode()
        for _ in range(clients):
            c = socket.create_connection(("127.0.0.1", s.port))
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                      b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            socks.append(c)
        time.sleep(8)  # the requests run to their end; their feeds have nowhere to go
        return before, rss_mb()
    finally:
        for c in socks:
            c.close()
        s.stop()


def big_run_folder(mb: int = 120) -> tuple[float, float, float, float, float]:
    """(MB before, peak MB, MB kept, seconds of the first listing, of a repeated one) for a run log of
    about `mb` MB behind the runs browser, 12 listing requests at once."""
    import concurrent.futures
    import tempfile
    import threading

    from fastapi.testclient import TestClient

    from ponder.server.ui import create_runs_app

    with tempfile.TemporaryDirectory() as d:
        run = Path(d) / "big"
        run.mkdir()
        cand = {"text": "x " * 400, "answer": "5", "correct": True, "tokens": 400}
        line = json.dumps({"problem_id": "p", "seed": 0, "reference": "5", "correct": True,
                           "candidates": [cand] * 16, "usage": {"completion_tokens": 6400}})
        with (run / "log.jsonl").open("w") as f:
            for i in range(mb * (1 << 20) // len(line)):
                f.write(line.replace('"p"', f'"p{i}"', 1) + "\n")
        client = TestClient(create_runs_app(d, max_inflight=16))
        before, peak = rss_mb(), [0.0]
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], rss_mb())
                time.sleep(0.05)

        w = threading.Thread(target=watch)
        w.start()
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            list(pool.map(lambda _: client.get("/v1/ponder/runs").status_code, range(12)))
        first = time.monotonic() - t0
        t0 = time.monotonic()
        client.get("/v1/ponder/runs")
        again = time.monotonic() - t0
        stop.set()
        w.join()
        import gc

        gc.collect()
        return before, peak[0], rss_mb(), first, again


def hostile_files() -> list[tuple[str, int, bool]]:
    """(case, exit status, traceback printed) for hostile files on the command line."""
    import subprocess
    import tempfile

    ponder = str(Path(sys.executable).parent / "ponder")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    out = []
    with tempfile.TemporaryDirectory() as d:
        Path(d, "bomb.yaml").write_text(bomb + "strategy: vote\n")
        Path(d, "deep.json").write_text("[" * 100_000 + "]" * 100_000)
        for case, args in (("YAML alias bomb as a recipe", ["ask", "q", "--recipe", f"{d}/bomb.yaml"]),
                           ("/dev/zero as a stop rule", ["ask", "q", "-s", "auto", "--option", "rule=/dev/zero"]),
                           ("JSON nested 10^5 deep as a policy", ["ask", "q", "-s", "auto", "--option",
                                                                 f"policy={d}/deep.json"])):
            p = subprocess.run([ponder, *args], capture_output=True, text=True, timeout=120)
            out.append((case, p.returncode, "Traceback" in p.stderr + p.stdout))
    return out


def main() -> None:
    fast = "--fast" in sys.argv
    print("| scenario | outcome |")
    print("|---|---|")
    ok4, ok2, bad, seq, tok = option_fuzz()
    print(f"| 600 requests: every served strategy × hostile option values (scripted) | {ok4} clean 4xx, {ok2} "
          f"2xx, **{bad} 5xx**; the most work any did: {100 * seq:.0f}% of its admitted sequences, "
          f"{100 * tok:.0f}% of its admitted tokens |")
    (st1, t1), (st2, t2) = multiplied_and_loosened()
    print(f"| cascade probe=1000000 | {st1} after {t1:.3f} s (nothing sampled) |")
    print(f"| route flops=1e30 over the operator's 5e11 | {st2} after {t2:.3f} s |")
    print(f"| a client leaves a non-streamed request | its backend told to stop after {left_without_reading():.2f} s |")
    before, during = unread_feeds()
    print(f"| 8 unread streams of n=64 live events | server memory {before:.0f} → {during:.0f} MB |")
    b, peak, kept, first, again = big_run_folder()
    print(f"| a 120 MB run log, 12 concurrent listings | memory {b:.0f} → peak {peak:.0f} MB, {kept:.0f} MB kept; "
          f"first listing {first:.1f} s, repeated {again:.3f} s |")
    for case, code, tb in hostile_files():
        print(f"| {case} | exit {code}, {'a traceback' if tb else 'one line, no traceback'} |")
    if fast:
        return
    ok4, ok2, bad, seq, tok = option_fuzz(count=60, smollm=True)
    print(f"| 60 requests: served strategies × hostile option values (SmolLM2) | {ok4} clean 4xx, {ok2} 2xx, "
          f"**{bad} 5xx**; most work: {100 * seq:.0f}% of admitted sequences, {100 * tok:.0f}% of tokens |")
    ok4, ok2, bad = fuzz()
    print(f"| 500 malformed bodies | {ok4} clean 4xx in OpenAI's shape, {ok2} valid after all (2xx), {bad} 5xx |")
    st, t = chunked_body()
    print(f"| 50 MB chunked body, 1 MiB limit | {st} after {t:.2f} s |")
    st, t = slow_bodies()
    print(f"| 4 trickling bodies at max_inflight=4, then a normal request | {st} in {t:.2f} s |")
    st, t = hung_upstream()
    print(f"| silent upstream, request timeout 3 s | {st} after {t:.1f} s |")
    behind, idle_small, big = small_behind_big()
    print(f"| greedy 4-token request while an n=16 request decodes (SmolLM2) | {behind:.2f} s "
          f"(idle: {idle_small:.2f} s; the n=16 request took {big:.1f} s) |")
    wait, idle = dropped_stream()
    print(f"| stream dropped mid-decode (SmolLM2, max_tokens 1500, n=2); next request | {wait:.2f} s "
          f"(the same request on an idle server: {idle:.2f} s) |")


if __name__ == "__main__":
    main()
