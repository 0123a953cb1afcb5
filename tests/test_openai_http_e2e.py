"""The HTTP backend against a real OpenAI-compatible server on loopback (llama-cpp-python's server
with the embedded test model). That server ignores `n`, so this also proves the fallback."""

import asyncio

import pytest

from ponder import Engine, GenRequest, Message, OpenAIGenerator, Problem, SamplingParams
from ponder.strategies.vote import MajorityVote

pytestmark = pytest.mark.e2e


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
