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


def test_an_outage_reaches_every_caller_of_the_batch():
    # the merged call fails, then each caller's own call fails too
    inner = ScriptedGenerator(["x"], errors=[RetryableBackendError("down")] * 4)
    gen = BatchingGenerator(inner, window_s=0.05)

    async def go():
        return await asyncio.gather(*(gen.generate([req(i)]) for i in range(3)), return_exceptions=True)

    out = asyncio.run(go())
    assert all(isinstance(e, RetryableBackendError) for e in out)


class Picky:
    """A backend that fails the whole call when any request in it is bad (as llama.cpp, vLLM and the
    HTTP backends did before per-request errors)."""

    def __init__(self):
        self.inner, self.calls = ScriptedGenerator(lambda r, i, rng: f"ok {r.prompt}"), []

    name = "picky"

    @property
    def capabilities(self):
        return self.inner.capabilities

    async def generate(self, requests, *, progress=None):
        self.calls.append([r.prompt for r in requests])
        bad = [r.prompt for r in requests if "bad" in r.prompt]
        if bad:
            raise ConfigError("prompt", bad[0], "refused")
        return await self.inner.generate(requests, progress=progress)


def test_one_callers_bad_request_does_not_fail_the_others():
    inner = Picky()
    gen = BatchingGenerator(inner, window_s=0.05)

    async def go():
        calls = [gen.generate([GenRequest(prompt=p)]) for p in ("q0", "bad", "q2")]
        return await asyncio.gather(*calls, return_exceptions=True)

    good0, bad, good2 = asyncio.run(go())
    assert good0[0].outputs[0].text == "ok q0" and good2[0].outputs[0].text == "ok q2"
    assert isinstance(bad, ConfigError) and "'bad'" in str(bad)  # names its own parameter, only for its caller
    assert inner.calls[0] == ["q0", "bad", "q2"] and sorted(inner.calls[1:]) == [["bad"], ["q0"], ["q2"]]


def test_error_responses_go_to_their_own_caller():
    from ponder.types import GenResponse

    class Slotted(Picky):
        async def generate(self, requests, *, progress=None):
            good = await self.inner.generate([r for r in requests if "bad" not in r.prompt])
            it = iter(good)
            return [GenResponse.failed(ConfigError("prompt", r.prompt, "refused")) if "bad" in r.prompt
                    else next(it) for r in requests]

    gen = BatchingGenerator(Slotted(), window_s=0.05)

    async def go():
        return await asyncio.gather(*(gen.generate([GenRequest(prompt=p)]) for p in ("q0", "bad")))

    (a,), (b,) = asyncio.run(go())
    assert a.error is None and a.outputs[0].text == "ok q0"
    assert isinstance(b.error, ConfigError) and b.outputs == () and gen.batches == [2]


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


def test_the_wrapper_works_from_one_event_loop_after_another():
    """asyncio.run per call (a CLI, a test client) must not leave it waiting on a dead loop's event."""
    inner = ScriptedGenerator(lambda r, i, rng: f"answer to {r.prompt}")
    gen = BatchingGenerator(inner, window_s=0.05, max_requests=16)
    for k in range(3):
        out = asyncio.run(asyncio.wait_for(burst(gen, 2), timeout=5))
        assert [o[0].outputs[0].text for o in out] == ["answer to q0", "answer to q1"], k


def test_a_cancelled_caller_stops_only_its_own_requests():
    inner = ScriptedGenerator(lambda r, i, rng: f"answer to {r.prompt}", delay_s=0.3)
    gen = BatchingGenerator(inner, window_s=0.05, max_requests=16)

    async def main():
        a = asyncio.create_task(gen.generate([req(1)]))
        b = asyncio.create_task(gen.generate([req(2)]))
        await asyncio.sleep(0.15)  # both sent in one batch; the backend is busy with it
        a.cancel()
        out_b = await b
        with pytest.raises(asyncio.CancelledError):
            await a
        return out_b

    out = asyncio.run(main())
    assert out[0].outputs[0].text == "answer to q2" and gen.batches == [2]
    sent = {r.prompt: r for r in inner.requests}
    assert sent["q1"].cancel.is_set() and not sent["q2"].cancel.is_set()  # the backend can stop q1 only


def test_a_caller_cancelled_while_queued_is_never_sent_and_a_lone_one_cancels_the_call():
    inner = ScriptedGenerator(["x"], delay_s=5.0)
    gen = BatchingGenerator(inner, window_s=0.2, max_requests=16)

    async def main():
        queued = asyncio.create_task(gen.generate([req(1)]))
        await asyncio.sleep(0.05)
        queued.cancel()  # still in the window: it leaves the queue
        await asyncio.sleep(0.3)
        lone = asyncio.create_task(gen.generate([req(2)]))
        await asyncio.sleep(0.4)  # sent; the backend call sleeps 5 s
        t0 = asyncio.get_running_loop().time()
        lone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await lone
        await asyncio.sleep(0.05)
        return asyncio.get_running_loop().time() - t0

    took = asyncio.run(main())
    assert gen.batches == [1] and inner.calls == 1  # only the lone caller was sent
    assert took < 1.0  # the lone caller's backend call was cancelled, not waited for
