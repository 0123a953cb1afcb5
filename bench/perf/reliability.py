"""Benchmark: what a misbehaving client can make the server do (issue 13), measured on loopback.

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
   error shape, how many a 5xx.

    python bench/perf/reliability.py
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "src"))

from ponder import ScriptedGenerator  # noqa: E402
from ponder.server.app import ServerConfig, create_app  # noqa: E402
from ponder.testing import AppServer  # noqa: E402

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


def main() -> None:
    print("| scenario | outcome |")
    print("|---|---|")
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
