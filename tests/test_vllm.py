"""The vLLM backend for real, on vLLM's CPU build with the embedded model converted to safetensors.

Marked `vllm`: `make test` runs them in `.venv-vllm` (vLLM pins versions the main environment does
not use); elsewhere they skip. One engine serves the in-process tests; the CLI and the server start
their own.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import pytest

from ponder import Engine, GenRequest, Message, Problem, SamplingParams
from ponder.registry import make_strategy
from ponder.types import ConfidenceStop

pytestmark = pytest.mark.vllm


@pytest.fixture(autouse=True, scope="module")
def _needs_vllm():
    """Imported per test, not at collection: in the main environment these tests are deselected
    (-m "not vllm"), not skipped, so PONDER_REQUIRE_E2E can fail every skip."""
    pytest.importorskip("vllm")

# A small KV cache and no compilation: start-up in about 20 s on two cores. float32, not vLLM's CPU
# default bfloat16: in bfloat16 a different batch shape (n=2 vs n=4) changes logits enough to flip
# near-tied samples, which the seed tests would mistake for a seeding bug.
OPTIONS = {"enforce_eager": True, "kv_cache_memory_bytes": 512 << 20, "max_model_len": 2048, "dtype": "float32"}
K = 8  # tokens compared across batch shapes: numerics still differ slightly, so not whole samples
CLI_OPTIONS = [a for k, v in OPTIONS.items() for a in ("-O", f"{k}={json.dumps(v)}")]
Q = (Message("user", "What is 2 + 3? Answer briefly."),)


@pytest.fixture(scope="module")
def gen(hf_test_model):
    from ponder.backends.vllm import VLLMGenerator

    g = VLLMGenerator(hf_test_model, **OPTIONS)
    yield g
    g.close()


def run(gen, *reqs):
    return asyncio.run(gen.generate(list(reqs)))


def test_the_backend_contract(gen):
    """The checks every backend runs (`contract.py`): isolation, cancel, deadlines."""
    from contract import check_contract, request

    check_contract(gen, too_long=request(text="What is 2 + 2? " * 400),
                   slow=request(n=1, max_tokens=1500, text="Write a very long story about a dragon."))


def test_capabilities_are_truthful(gen):
    caps = gen.capabilities
    assert caps.logprobs and caps.top_logprobs == 20 and caps.native_n and caps.chat and caps.continuation
    assert caps.prefix_reuse and caps.confidence_stop and caps.max_context == 2048
    assert gen.n_params is not None and 1.0e8 < gen.n_params < 2.0e8  # SmolLM2-135M


def test_n_samples_seeds_logprobs_and_stop_strings(gen):
    p = SamplingParams(max_tokens=24, logprobs=5, stop=("\n",))
    [a] = run(gen, GenRequest(messages=Q, n=4, params=p, seed=3))
    assert len(a.outputs) == 4
    for o in a.outputs:
        assert o.finish_reason in ("stop", "length") and "\n" not in o.text
        assert 0 < o.completion_tokens <= 24 and len(o.logprobs) == len(o.token_ids) == o.completion_tokens
        for t in o.logprobs:
            assert len(t.top) == 5 and t.logprob <= 0
            assert [lp for _, lp in t.top] == sorted((lp for _, lp in t.top), reverse=True)
    assert a.usage.prompt_tokens > 10 and a.usage.calls == 1
    assert a.usage.completion_tokens == sum(o.completion_tokens for o in a.outputs)
    # sample i depends on (seed, i) only: the first two of n=4 start as the two of n=2
    [b] = run(gen, GenRequest(messages=Q, n=2, params=p, seed=3))
    assert [o.token_ids[:K] for o in b.outputs] == [o.token_ids[:K] for o in a.outputs[:2]]
    [c] = run(gen, GenRequest(messages=Q, n=4, params=p, seed=4))
    assert [o.text for o in c.outputs] != [o.text for o in a.outputs]


def test_prompt_is_shared_and_prefix_cache_reused(gen):
    long = "Facts: " + " ".join(f"item {i} costs {i} dollars." for i in range(60))
    p = SamplingParams(max_tokens=4)
    [first] = run(gen, GenRequest(prompt=long + " Question one:", n=3, params=p, seed=0))
    [second] = run(gen, GenRequest(prompt=long + " Question two:", n=3, params=p, seed=0))
    # n sequences share the prompt, and the second request recomputes only what differs
    assert second.usage.flops_estimate < 0.5 * first.usage.flops_estimate
    assert first.usage.prompt_tokens == second.usage.prompt_tokens > 300  # counted once, not × n


def test_continuation_and_greedy(gen):
    p = SamplingParams(temperature=0, max_tokens=6)
    [r] = gen.generate_sync([GenRequest(prompt="1, 2, 3, 4,", n=3, params=p)])  # blocking form, as llama.cpp's
    assert len({o.text for o in r.outputs}) == 1 and r.outputs[0].text.strip().startswith("5")
    assert r.usage.completion_tokens == r.outputs[0].completion_tokens  # decoded once, copied
    [cont] = run(gen, GenRequest(messages=Q, prefix="The answer is", n=1, params=p))
    assert cont.outputs[0].text and not cont.outputs[0].text.startswith("The answer is")


def test_a_prompt_over_the_context_is_a_config_error_of_that_request_alone(gen):
    from ponder.errors import ConfigError

    long, ok = run(gen, GenRequest(prompt="word " * 3000, params=SamplingParams(max_tokens=4)),
                   GenRequest(prompt="1, 2, 3,", params=SamplingParams(max_tokens=2)))
    assert isinstance(long.error, ConfigError) and "maximum context length" in str(long.error)
    assert ok.error is None and ok.outputs[0].completion_tokens == 2  # its neighbour ran
    [again] = run(gen, GenRequest(prompt="1, 2, 3,", params=SamplingParams(max_tokens=2)))  # the engine lives on
    assert again.outputs[0].completion_tokens == 2


def test_confidence_stop_aborts_samples_in_the_engine(gen):
    p = SamplingParams(max_tokens=40, logprobs=5)
    [full] = run(gen, GenRequest(messages=Q, n=3, params=p, seed=5))
    cut_all = ConfidenceStop(threshold=1e9, window=4)  # every sample falls below at its 4th token
    [cut] = run(gen, GenRequest(messages=Q, n=3, params=p, seed=5, confidence_stop=cut_all))
    assert [o.finish_reason for o in cut.outputs] == ["cutoff"] * 3
    assert all(o.completion_tokens == 4 for o in cut.outputs) and cut.usage.completion_tokens == 12
    assert {"event": "confidence_cutoff", "cut": 3, "threshold": 1e9} in cut.events
    # a cut sample is the start of the same seed's full sample (one-sample requests, same seeds)
    for a, b in zip(cut.outputs, full.outputs, strict=True):
        assert b.token_ids[:4] == a.token_ids
    [never] = run(gen, GenRequest(messages=Q, n=3, params=p, seed=5, confidence_stop=ConfidenceStop(0.0, 4)))
    assert "cutoff" not in {o.finish_reason for o in never.outputs}  # confidence is never below 0
    assert [o.token_ids[:K] for o in never.outputs] == [o.token_ids[:K] for o in full.outputs]


def test_strategies_through_the_engine(gen):
    params, q = SamplingParams(max_tokens=48), Problem(prompt="What is 7 + 5?")
    res = asyncio.run(Engine(gen, make_strategy("vote", 4), params=params, seed=1).asolve(q))
    assert len(res.candidates) == 4 and res.usage.completion_tokens > 0
    online = Engine(gen, make_strategy("deepconf", 6, warmup=2, keep=0.5), params=params, seed=1)
    res = asyncio.run(online.asolve(q))  # a second event loop is served too
    [filt] = [e for e in res.trace if e["event"] == "filter"]
    assert filt["mode"] == "online" and len(res.candidates) == 6
    assert res.usage.completion_tokens == sum(c.tokens for c in res.candidates)


def test_bad_options_name_the_parameter(hf_test_model):
    from ponder.backends.vllm import VLLMGenerator
    from ponder.errors import ConfigError, ModelNotFoundError

    with pytest.raises(ConfigError, match="tensor_paralel_size"):
        VLLMGenerator(hf_test_model, tensor_paralel_size=2)
    with pytest.raises(ConfigError, match="gpu_memory_utilization"):
        VLLMGenerator(hf_test_model, gpu_memory_utilization=1.5)
    with pytest.raises(ModelNotFoundError):
        VLLMGenerator("./no/such/dir")


def test_ponder_ask_with_the_vllm_backend(hf_test_model):
    out = subprocess.run([sys.executable, "-m", "ponder", "ask", "What is 2 + 3?", "--backend", "vllm",
                          "--model", str(hf_test_model), "--n", "3", "--max-tokens", "32", "--json",
                          *CLI_OPTIONS], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(res["candidates"]) == 3 and res["usage"]["completion_tokens"] > 0


def test_ponder_serve_with_the_vllm_backend(hf_test_model):
    import httpx
    import openai
    import psutil

    from ponder.testing import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ponder", "serve", "--backend", "vllm", "--model",
                             str(hf_test_model), "--port", str(port), "--served-model-name", "smol", *CLI_OPTIONS],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                if httpx.get(url + "/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "ponder serve --backend vllm did not start"
            time.sleep(0.5)
        client = openai.OpenAI(base_url=url, api_key="none")
        r = client.chat.completions.create(model="vote-3/smol", max_tokens=24,
                                           messages=[{"role": "user", "content": "What is 2 + 3?"}])
        assert r.model_extra["ponder"]["samples"] == 3 and r.usage.completion_tokens > 0
        chunks = list(client.chat.completions.create(model="smol", max_tokens=16, stream=True,
                                                     messages=[{"role": "user", "content": "Hi"}]))
        assert chunks[-1].usage.completion_tokens > 0
        engine_procs = psutil.Process(proc.pid).children(recursive=True)
        assert engine_procs  # vLLM's engine core and worker
        proc.terminate()  # a graceful stop shuts the engine down: no orphaned engine processes
        proc.wait(timeout=60)
        _, alive = psutil.wait_procs(engine_procs, timeout=30)
        assert not alive, [p.name() for p in alive]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
