"""The server on real backends: the embedded model (with dynamic batching) and an upstream
OpenAI-compatible server (llama-cpp-python's) on loopback."""

import concurrent.futures

import pytest

from ponder import OpenAIGenerator
from ponder.params import SamplingParams
from ponder.server.app import ServerConfig, create_app
from test_server import Served

pytestmark = pytest.mark.e2e


def ask(client, model):
    return client.chat.completions.create(model=model, max_tokens=24,
                                          messages=[{"role": "user", "content": "What is 2 + 3?"}])


def test_embedded_model_batches_concurrent_requests(llama):
    cfg = ServerConfig(model_name="smol", params=SamplingParams(max_tokens=24), batch_window_s=0.2)
    s = Served(create_app(llama, cfg))
    try:
        client = s.client()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            out = list(pool.map(lambda _: ask(client, "vote-2/smol"), range(4)))
        assert all(r.model_extra["ponder"]["samples"] == 2 for r in out)
        assert all(0 < r.usage.completion_tokens <= 48 for r in out)
        assert max(s.app.state.ponder.generator.batches) > 1  # requests shared llama.cpp batches
    finally:
        s.stop()


def test_upstream_mode_against_a_real_server(server_url):
    s = Served(create_app(OpenAIGenerator(server_url), ServerConfig(model_name="up")))
    try:
        r = ask(s.client(), "vote-3/up")
        assert r.model_extra["ponder"]["samples"] == 3
        assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0  # summed over internal calls
        stream = list(s.client().chat.completions.create(
            model="vote-2/up", max_tokens=16, stream=True, messages=[{"role": "user", "content": "Hi"}]))
        assert stream[-1].usage.completion_tokens > 0
    finally:
        s.stop()


def test_sigterm_with_a_stream_in_flight_drains_then_stops_cleanly():
    """`ponder serve` on the embedded model: SIGTERM while a long stream decodes. The stream is cut
    after --drain-seconds, its decode stops, the model is freed after it, and the process exits 0
    (freeing the model under a running decode used to crash it)."""
    import signal
    import subprocess
    import sys
    import time

    import httpx

    from conftest import TEST_MODEL
    from ponder.testing import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ponder", "serve", "--model", TEST_MODEL, "--port", str(port),
                             "--drain-seconds", "1", "--max-tokens", "2048"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        body = {"model": "ponder", "stream": True, "max_tokens": 2000, "messages": [
            {"role": "user", "content": "Write a very long story about a dragon, chapter by chapter."}]}
        lines, sent = [], None
        try:
            with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=60) as r:
                for line in r.iter_lines():  # keep reading after SIGTERM: the server ends the stream
                    lines.append(line)
                    if sent is None and "progress" in line and len(lines) > 4:
                        proc.send_signal(signal.SIGTERM)
                        sent = time.monotonic()
        except httpx.HTTPError:
            pass  # the connection closed under the stream: what a drain that ran out looks like
        cut_after = time.monotonic() - sent
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sent is not None and cut_after < 20  # --drain-seconds 1, not the 2,000-token story
    assert proc.returncode in (0, -signal.SIGTERM), out[-2000:]  # uvicorn re-raises SIGTERM after shutdown
    assert "Application shutdown complete" in out and "Segmentation fault" not in out


def test_clients_end_to_end_on_the_embedded_model(llama):
    """LiteLLM and the Responses API against the server on SmolLM2, with reasoning_effort: the levels
    spend what they say (minimal one sample, low four)."""
    import os

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    s = Served(create_app(llama, ServerConfig(model_name="smol", params=SamplingParams(max_tokens=24))))
    try:
        kw = {"model": "openai/smol", "api_base": s.url + "/v1", "api_key": "none", "max_tokens": 24,
              "messages": [{"role": "user", "content": "What is 2 + 3?"}]}
        low = litellm.completion(**kw, reasoning_effort="low")
        minimal = litellm.completion(**kw, reasoning_effort="minimal")
        assert low.choices[0].message.content and low.model_extra["ponder"]["samples"] == 4
        assert minimal.model_extra["ponder"]["samples"] == 1
        details = [x.usage.completion_tokens_details.reasoning_tokens for x in (minimal, low)]
        assert details[0] < details[1]
        r = s.client().responses.create(model="smol", input="What is 2 + 3?", max_output_tokens=24,
                                        reasoning={"effort": "low"})
        assert r.status == "completed" and r.output_text and r.usage.output_tokens > 0
    finally:
        s.stop()


def test_auto_over_http_counts_its_tokens_round_by_round(server_url):
    """Against a real streaming upstream (llama-cpp-python's server) auto streams each sample: its
    rounds log the tokens they spent, where they used to log 0 without logprobs."""
    import asyncio

    from ponder import Engine, Problem
    from ponder.registry import make_strategy

    gen = OpenAIGenerator(server_url)
    res = asyncio.run(Engine(gen, make_strategy("auto", 4), params=SamplingParams(temperature=0.7, max_tokens=24))
                      .asolve(Problem(prompt="What is 2 + 3? Put the answer in \\boxed{}.")))
    rounds = [e for e in res.trace if e["event"] == "round"]
    assert rounds and all(e["tokens"] > 0 for e in rounds)
    assert all(c.tokens and c.tokens <= 24 for c in res.candidates)
