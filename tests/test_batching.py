import asyncio

import pytest

from ponder import ConfigError, GenRequest, RetryableBackendError, ScriptedGenerator
from ponder.backends.batching import BatchingGenerator


def req(i, n=1):
    return GenRequest(prompt=f"q{i}", n=n, seed=i)


async def burst(gen, k, n=1):
    return await asyncio.gather(*(gen.generate([req(i, n)]) for i in range(k)))


def test_concurrent_calls_share_one_backend_call_and_get_their_own_answers():
    inner = ScriptedGenerator(lambda r, i, rng: f"answer to {r.prompt}")
    gen = BatchingGenerator(inner, window_s=0.05, max_requests=16)
    out = asyncio.run(burst(gen, 6, n=2))
    assert inner.calls == 1 and gen.batches == [6]
    assert [o[0].outputs[0].text for o in out] == [f"answer to q{i}" for i in range(6)]
    assert all(len(o[0].outputs) == 2 for o in out)


def test_max_requests_splits_batches():
    inner = ScriptedGenerator(["x"])
    gen = BatchingGenerator(inner, window_s=0.05, max_requests=4)
    asyncio.run(burst(gen, 10))
    assert sum(gen.batches) == 10 and max(gen.batches) <= 4


def test_a_failure_reaches_every_caller_of_the_batch():
    inner = ScriptedGenerator(["x"], errors=[RetryableBackendError("down")])
    gen = BatchingGenerator(inner, window_s=0.05)

    async def go():
        return await asyncio.gather(*(gen.generate([req(i)]) for i in range(3)), return_exceptions=True)

    out = asyncio.run(go())
    assert all(isinstance(e, RetryableBackendError) for e in out)


def test_progress_fans_out_and_bad_settings():
    inner = ScriptedGenerator(["a b c"])
    gen = BatchingGenerator(inner, window_s=0.02)
    seen = []

    async def go():
        await asyncio.gather(gen.generate([req(0)], progress=seen.append), gen.generate([req(1)]))

    asyncio.run(go())
    assert sum(seen) == 6  # the batch's tokens
    with pytest.raises(ConfigError, match="max_requests=0"):
        BatchingGenerator(inner, max_requests=0)
