"""The transformers backend on a tiny random Llama built in the test."""

import asyncio

import pytest

from ponder import Engine, GenRequest, Message, Problem, SamplingParams
from ponder.strategies.vote import MajorityVote
from tinyhf import tiny

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    from ponder.backends.transformers import TransformersGenerator

    return TransformersGenerator(str(tiny(tmp_path_factory.mktemp("m"), transformers, torch,
                                          transformers.LlamaForCausalLM)), device="cpu")


Q = (Message("user", "What is 2 + 2 ?"),)


def one(gen, **kw):
    [r] = asyncio.run(gen.generate([GenRequest(messages=Q, **kw)]))
    return r


def test_n_samples_max_tokens_and_usage(gen):
    r = one(gen, n=3, params=SamplingParams(max_tokens=5, temperature=1.0), seed=1)
    assert len(r.outputs) == 3 and all(1 <= o.completion_tokens <= 5 for o in r.outputs)
    assert r.usage.completion_tokens == sum(o.completion_tokens for o in r.outputs)
    assert r.usage.prompt_tokens == len(gen.tokenizer(gen.render(GenRequest(messages=Q)))["input_ids"])
    assert gen.render(GenRequest(messages=Q)).endswith("assistant: ")


def test_seeds_and_greedy(gen):
    p = SamplingParams(max_tokens=6, temperature=1.0)
    assert [o.text for o in one(gen, n=2, params=p, seed=3).outputs] == \
        [o.text for o in one(gen, n=2, params=p, seed=3).outputs]
    g = one(gen, n=2, params=SamplingParams(max_tokens=6, temperature=0))
    assert g.outputs[0].text == g.outputs[1].text


def test_logprobs_and_stop_strings(gen):
    r = one(gen, n=2, params=SamplingParams(max_tokens=6, temperature=1.0, logprobs=3), seed=0)
    for o in r.outputs:
        assert len(o.logprobs) == o.completion_tokens
        assert all(t.logprob <= 0 and len(t.top) == 3 and t.top[0][1] >= t.logprob - 1e-6 for t in o.logprobs)
    full = one(gen, params=SamplingParams(max_tokens=8, temperature=0)).outputs[0].text
    words = full.split()
    if len(words) >= 3:
        cut = one(gen, params=SamplingParams(max_tokens=8, temperature=0, stop=(words[2],))).outputs[0]
        assert cut.stop_string == words[2] and words[2] not in cut.text and full.startswith(cut.text.rstrip())


def test_vote_through_the_engine(gen):
    res = asyncio.run(Engine(gen, MajorityVote(3), params=SamplingParams(max_tokens=4)).asolve(Problem(prompt="2+2?")))
    assert len(res.candidates) == 3 and res.usage.flops_estimate > 0


@pytest.mark.e2e
def test_convert_the_embedded_gguf_and_generate(tmp_path):
    pytest.importorskip("gguf")
    from typer.testing import CliRunner

    from conftest import TEST_MODEL, model_path_or_skip
    from ponder.backends.transformers import TransformersGenerator
    from ponder.cli import app

    model_path_or_skip()
    out = CliRunner().invoke(app, ["convert-gguf", TEST_MODEL, str(tmp_path / "hf")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "hf" / "model.safetensors").exists() and (tmp_path / "hf" / "config.json").exists()
    g = TransformersGenerator(str(tmp_path / "hf"))
    r = one(g, n=2, params=SamplingParams(max_tokens=8, temperature=0.7), seed=0)
    assert len(r.outputs) == 2 and all(o.text for o in r.outputs)


def test_merged_requests_run_as_one_generate_call(gen, monkeypatch):
    calls = []
    real = gen.model.generate

    def counting(**kw):
        calls.append(kw["input_ids"].shape)
        return real(**kw)

    monkeypatch.setattr(gen.model, "generate", counting)
    monkeypatch.setattr(gen, "merge_requests", True)
    p, other = SamplingParams(max_tokens=4, temperature=1.0), SamplingParams(max_tokens=3, temperature=1.0)
    reqs = [GenRequest(messages=Q, n=3, params=p, seed=1),
            GenRequest(messages=(Message("user", "And what is 17 times 3, in words?"),), n=2, params=p, seed=2),
            GenRequest(messages=Q, n=2, params=other, seed=3)]
    out = asyncio.run(gen.generate(reqs))
    assert [len(r.outputs) for r in out] == [3, 2, 2]
    assert len(calls) == 2 and calls[0][0] == 5  # the two requests sharing settings: one call, 5 rows
    for req, r in zip(reqs, out):
        assert r.usage.prompt_tokens == len(gen.tokenizer(gen.render(req))["input_ids"])  # padding not counted
        assert all(1 <= o.completion_tokens <= req.params.max_tokens for o in r.outputs)
    # a request alone is drawn exactly as without merging
    monkeypatch.setattr(gen, "merge_requests", False)
    alone = asyncio.run(gen.generate(reqs[:1]))[0]
    monkeypatch.setattr(gen, "merge_requests", True)
    assert [o.text for o in asyncio.run(gen.generate(reqs[:1]))[0].outputs] == [o.text for o in alone.outputs]
