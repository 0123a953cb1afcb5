"""The HTTP backend against a real OpenAI-compatible server on loopback (llama-cpp-python's server
with the embedded test model). That server ignores `n`, so this also proves the fallback."""

import asyncio
import socket
import subprocess
import sys
import time

import httpx
import pytest

from conftest import TEST_MODEL
from ponder import Engine, GenRequest, Message, OpenAIGenerator, Problem, SamplingParams
from ponder.strategies.vote import MajorityVote

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server_url():
    pytest.importorskip("llama_cpp.server.app")
    from ponder.errors import ModelNotFoundError
    from ponder.models import resolve_model

    try:
        path = resolve_model(TEST_MODEL)
    except ModelNotFoundError as e:
        pytest.skip(str(e))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host",
                             "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--verbose", "false"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(url + "/v1/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                pytest.fail("llama_cpp.server exited during start-up")
            time.sleep(0.5)
        else:
            pytest.fail("llama_cpp.server did not start in 60 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_chat_n_samples_with_logprobs_against_real_server(server_url):
    g = OpenAIGenerator(server_url)
    req = GenRequest(messages=(Message("user", "What is 2 + 2?"),), n=3,
                     params=SamplingParams(max_tokens=8, logprobs=2), seed=3)
    [r] = asyncio.run(g.generate([req]))
    assert len(r.outputs) == 3
    assert all(o.logprobs and all(t.logprob <= 0 for t in o.logprobs) for o in r.outputs)
    assert r.usage.completion_tokens is not None and r.usage.completion_tokens <= 24
    assert g.model  # discovered from /v1/models


def test_vote_through_the_http_backend(server_url):
    g = OpenAIGenerator(server_url)
    eng = Engine(g, MajorityVote(2), params=SamplingParams(max_tokens=16), seed=0)
    res = asyncio.run(eng.asolve(Problem(prompt="What is 2 + 2?")))
    assert len(res.candidates) == 2 and res.usage.calls >= 1
    assert res.usage.prompt_tokens > 0
