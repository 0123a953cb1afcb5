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
