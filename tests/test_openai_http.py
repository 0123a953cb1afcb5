"""The OpenAI-compatible HTTP backend, edge cases through httpx.MockTransport."""

import asyncio
import json

import httpx
import pytest

from ponder import (
    ConfigError,
    FatalBackendError,
    GenRequest,
    Message,
    OpenAIGenerator,
    RetryableBackendError,
    SamplingParams,
)
from ponder.backends.base import raise_errors

CHAT = GenRequest(messages=(Message("user", "2+2?"),), n=3, params=SamplingParams(max_tokens=8), seed=7)


def choice(i, text="4", logprobs=None):
    c = {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    if logprobs is not None:
        c["logprobs"] = logprobs
    return c


def reply(n, usage=True, **kw):
    body = {"choices": [choice(i, **kw) for i in range(n)]}
    if usage:
        body["usage"] = {"prompt_tokens": 10, "completion_tokens": 2 * n}
    return httpx.Response(200, json=body)


def gen(handler, **kw):
    kw.setdefault("backoff_s", 0.0)
    return OpenAIGenerator("http://upstream.test", model="m", transport=httpx.MockTransport(handler), **kw)


def call(g, *reqs):
    """Generate, raising the first request's error (requests fail on their own: GenResponse.error)."""
    out = asyncio.run(g.generate(list(reqs)))
    raise_errors(out)
    return out


def test_chat_with_native_n():
    seen = []

    def handler(request):
        seen.append(json.loads(request.content))
        assert request.url.path == "/v1/chat/completions"
        return reply(seen[-1]["n"])

    [r] = call(gen(handler), CHAT)
    assert len(r.outputs) == 3 and r.outputs[0].text == "4"
    assert seen[0]["n"] == 3 and seen[0]["seed"] == 7 and seen[0]["max_tokens"] == 8
    assert r.usage.prompt_tokens == 10 and r.usage.completion_tokens == 6 and r.usage.calls == 1
    assert r.usage.flops_estimate is None


def test_server_that_ignores_n_falls_back_to_separate_calls():
    seeds = []

    def handler(request):
        body = json.loads(request.content)
        seeds.append(body["seed"])
        return reply(1)  # always one choice, whatever n says

    [r] = call(gen(handler), CHAT)
    assert len(r.outputs) == 3
    assert seeds == [7, 8, 9]  # distinct seeds for the extra samples
    assert r.usage.calls == 3 and r.usage.prompt_tokens == 30
    assert any(e["event"] == "n_fallback" for e in r.events)


def test_a_server_that_ignores_n_is_remembered_and_its_samples_go_out_together():
    bodies, inflight, peak = [], [0], [0]

    async def handler(request):
        bodies.append(json.loads(request.content))
        inflight[0] += 1
        peak[0] = max(peak[0], inflight[0])
        await asyncio.sleep(0.05)
        inflight[0] -= 1
        return reply(1)

    g = gen(handler)

    async def twice():
        return await g.generate([CHAT]), await g.generate([CHAT])

    (first,), (second,) = asyncio.run(twice())
    assert [b["n"] for b in bodies] == [3, 1, 1, 1, 1, 1]  # asked for n once, then one call per sample
    assert sorted(b["seed"] for b in bodies[3:]) == [7, 8, 9] and len(second.outputs) == 3
    assert any(e["event"] == "n_fallback" for e in first.events)
    assert any(e["event"] == "n_split" for e in second.events) and g.n_ignored
    assert peak[0] == 3  # the three samples of the second request were in flight together


def test_sampling_is_ponders_not_the_servers_defaults():
    bodies = []

    def handler(request):
        bodies.append(json.loads(request.content))
        return reply(bodies[-1]["n"])

    call(gen(handler), CHAT)
    assert (bodies[0]["top_k"], bodies[0]["min_p"], bodies[0]["repeat_penalty"]) == (0, 0.0, 1.0)


def test_a_strict_server_is_asked_again_without_the_extra_fields_once():
    bodies = []

    def handler(request):
        bodies.append(json.loads(request.content))
        if "top_k" in bodies[-1]:
            return httpx.Response(400, json={"error": {"message": "Unrecognized request argument supplied: top_k"}})
        return reply(bodies[-1]["n"])

    g = gen(handler)
    [r] = call(g, CHAT)
    [r2] = call(g, CHAT)
    assert len(r.outputs) == 3 and len(r2.outputs) == 3
    assert ["top_k" in b for b in bodies] == [True, False, False]
    assert any(e["event"] == "sampling_extras_rejected" for e in r.events) and not g.sampling_extras


def test_other_bad_requests_still_fail_at_once():
    def handler(request):
        return httpx.Response(400, json={"error": {"message": "messages: too long"}})

    with pytest.raises(FatalBackendError, match="too long"):
        call(gen(handler), CHAT)


@pytest.mark.parametrize("failure", [
    httpx.Response(429, headers={"retry-after": "0"}, text="slow down"),
    httpx.Response(503, text="overloaded"),
    "timeout",
    "connect",
])
def test_transient_failures_are_retried_and_recorded(failure):
    calls = []

    def handler(request):
        calls.append(1)
        if len(calls) < 3:
            if failure == "timeout":
                raise httpx.ReadTimeout("slow", request=request)
            if failure == "connect":
                raise httpx.ConnectError("refused", request=request)
            return failure
        return reply(3)

    [r] = call(gen(handler, max_retries=3), CHAT)
    assert len(r.outputs) == 3 and len(calls) == 3
    retries = [e for e in r.events if e["event"] == "retry"]
    assert [e["attempt"] for e in retries] == [1, 2]


def test_retries_are_bounded():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(500, text="boom")

    with pytest.raises(RetryableBackendError, match="after 3 attempt"):
        call(gen(handler, max_retries=2), CHAT)
    assert len(calls) == 3


def test_client_errors_fail_at_once():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(400, json={"error": {"message": "bad max_tokens"}})

    with pytest.raises(FatalBackendError, match="bad max_tokens"):
        call(gen(handler), CHAT)
    assert len(calls) == 1


def test_chat_logprobs_are_parsed():
    lp = {"content": [{"token": "4", "logprob": -0.1,
                       "top_logprobs": [{"token": "4", "logprob": -0.1}, {"token": "5", "logprob": -2.5}]}]}
    seen = []

    def handler(request):
        seen.append(json.loads(request.content))
        return reply(1, logprobs=lp)

    req = GenRequest(messages=CHAT.messages, params=SamplingParams(logprobs=2))
    [r] = call(gen(handler), req)
    assert seen[0]["logprobs"] is True and seen[0]["top_logprobs"] == 2
    t = r.outputs[0].logprobs[0]
    assert (t.token, t.logprob, t.top[1]) == ("4", -0.1, ("5", -2.5))


def test_completions_endpoint_and_missing_usage_is_unknown():
    def handler(request):
        assert request.url.path == "/v1/completions"
        body = json.loads(request.content)
        assert body["prompt"] == "Q: 2+2\nA:" and body["logprobs"] == 1
        return httpx.Response(200, json={"choices": [{"index": 0, "text": " 4", "finish_reason": "length",
                                                      "logprobs": {"tokens": [" 4"], "token_logprobs": [-0.2],
                                                                   "top_logprobs": [{" 4": -0.2, " 5": -3}]}}]})

    req = GenRequest(prompt="Q: 2+2\nA:", params=SamplingParams(logprobs=0))
    [r] = call(gen(handler), req)
    assert r.outputs[0].finish_reason == "length" and r.outputs[0].logprobs[0].logprob == -0.2
    assert r.usage.prompt_tokens is None and r.usage.completion_tokens is None  # unknown, not 0


def test_api_key_is_sent_and_model_discovered():
    def handler(request):
        assert request.headers["authorization"] == "Bearer sk-test"
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "served-model"}]})
        assert json.loads(request.content)["model"] == "served-model"
        return reply(1)

    g = OpenAIGenerator("http://upstream.test/v1/", api_key="sk-test", transport=httpx.MockTransport(handler))
    call(g, GenRequest(messages=CHAT.messages))
    assert g.model == "served-model"


def test_bad_base_url():
    with pytest.raises(ConfigError, match="base_url='localhost:8000'"):
        OpenAIGenerator("localhost:8000")


def test_many_requests_in_one_generate_call():
    def handler(request):
        body = json.loads(request.content)
        return reply(body["n"], text=body["messages"][0]["content"])

    reqs = [GenRequest(messages=(Message("user", f"q{i}"),), n=2) for i in range(5)]
    out = call(gen(handler), *reqs)
    assert [r.outputs[0].text for r in out] == [f"q{i}" for i in range(5)]


def sse(chunks, done=True):
    body = "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in chunks) + (": keep-alive\r\n\r\n")
    return body + ("data: [DONE]\r\n\r\n" if done else "")


def token(t, lp, alts):
    return {"token": t, "logprob": lp, "top_logprobs": [{"token": t, "logprob": lp}] +
            [{"token": f"x{j}", "logprob": a} for j, a in enumerate(alts)]}


def test_confidence_stop_streams_and_cuts_a_doubtful_sample():
    from ponder.types import ConfidenceStop

    def handler(request):
        body = json.loads(request.content)
        assert body["stream"] and body["logprobs"] and body["n"] == 1
        sure = body["seed"] == 7  # sample 0 is confident, sample 1 is not
        lp, alts = (-0.01, [-6.0, -7.0]) if sure else (-1.1, [-1.2, -1.3])
        chunks = [{"choices": [{"index": 0, "delta": {"content": w},
                                "logprobs": {"content": [token(w, lp, alts)]}, "finish_reason": None}]}
                  for w in ("The", " answer", " is", " 4", ".")]
        chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 9, "completion_tokens": 5}})
        return httpx.Response(200, text=sse(chunks), headers={"content-type": "text/event-stream"})

    req = GenRequest(messages=(Message("user", "2+2?"),), n=2, params=SamplingParams(max_tokens=8), seed=7,
                     confidence_stop=ConfidenceStop(threshold=2.0, window=2, top_k=3))
    [r] = call(gen(handler), req)
    sure, doubtful = r.outputs
    assert sure.text == "The answer is 4." and sure.finish_reason == "stop" and sure.completion_tokens == 5
    assert doubtful.finish_reason == "cutoff" and doubtful.text == "The answer"  # cut after the window
    assert r.usage.prompt_tokens == 18 and r.usage.completion_tokens == 7
    assert any(e["event"] == "confidence_cutoff" for e in r.events)


def stream_handler(fail_first=0, failure=None, seen=None):
    """A streaming server: the first `fail_first` requests get `failure`; then one sure sample."""
    calls = []

    async def handler(request):
        calls.append(json.loads(request.content)["seed"])
        if len(calls) <= fail_first:
            return failure
        if seen is not None:
            seen["open"] += 1
            seen["most"] = max(seen["most"], seen["open"])
            await asyncio.sleep(0.01)
            seen["open"] -= 1
        chunks = [{"choices": [{"index": 0, "delta": {"content": w},
                                "logprobs": {"content": [token(w, -0.01, [-6.0])]}, "finish_reason": None}]}
                  for w in ("4", ".")]
        return httpx.Response(200, text=sse(chunks), headers={"content-type": "text/event-stream"})

    handler.calls = calls
    return handler


def streamed(n=1):
    from ponder.types import ConfidenceStop

    return GenRequest(messages=(Message("user", "2+2?"),), n=n, params=SamplingParams(max_tokens=8), seed=7,
                      confidence_stop=ConfidenceStop(threshold=0.5, window=2, top_k=2))


def test_streams_retry_like_plain_calls_and_honour_retry_after():
    h = stream_handler(fail_first=1, failure=httpx.Response(429, headers={"retry-after": "0.05"}, text="busy"))
    [r] = call(gen(h, backoff_s=5.0), streamed())
    assert r.outputs[0].text == "4." and len(h.calls) == 2
    [retry] = [e for e in r.events if e["event"] == "retry"]
    assert retry["delay_s"] == 0.05 and "429" in retry["error"]  # Retry-After, not the 5 s backoff


def test_a_stream_that_keeps_failing_records_its_final_error():
    from ponder.backends.http import RetryPolicy
    from ponder.backends.openai_stream import StreamTarget, stream_samples

    h = stream_handler(fail_first=99, failure=httpx.Response(503, text="overloaded"))
    events = []

    async def go():
        async with httpx.AsyncClient(transport=httpx.MockTransport(h)) as client:
            target = StreamTarget(client, "http://upstream.test/v1", RetryPolicy(max_retries=2, backoff_s=0.0))
            return await stream_samples(target, [("/chat/completions", {"seed": 7})],
                                                     streamed().confidence_stop, keep_logprobs=False,
                                                     events=events)

    with pytest.raises(RetryableBackendError, match="after 3 attempt"):
        asyncio.run(go())
    assert len(h.calls) == 3
    assert [e["event"] for e in events] == ["retry", "retry", "backend_error"]


def test_streams_stay_inside_the_concurrency_limit():
    seen = {"open": 0, "most": 0}
    h = stream_handler(seen=seen)
    [r] = call(gen(h, max_concurrency=2), streamed(n=5))
    assert len(r.outputs) == 5 and sorted(h.calls) == [7, 8, 9, 10, 11]
    assert seen["most"] == 2


def test_a_stream_is_not_retried_past_the_deadline():
    import time

    h = stream_handler(fail_first=99, failure=httpx.Response(503, text="overloaded"))
    req = streamed()
    req = GenRequest(messages=req.messages, n=1, params=req.params, seed=7, confidence_stop=req.confidence_stop,
                     deadline=time.monotonic() + 0.2)
    with pytest.raises(RetryableBackendError, match="after 1 attempt"):
        call(gen(h, backoff_s=1.0, max_retries=5), req)
    assert len(h.calls) == 1


def test_each_event_loops_client_is_closed_when_the_loop_ends():
    g = gen(lambda request: reply(3))
    call(g, CHAT)
    first = g._client
    assert first.is_closed  # asyncio.run finalised it: nothing left open between runs
    call(g, CHAT)
    assert g._client is not first and g._client.is_closed

    async def explicit():
        await g.generate([CHAT])
        client = g._client
        await g.aclose()
        return client

    assert asyncio.run(explicit()).is_closed and g._client is None


def test_answer_stop_streams_each_sample_and_ends_it_at_its_answer_so_auto_counts_its_rounds():
    """auto over HTTP: each sample streams and its stream closes once the boxed answer is written (the
    server stops there); its tokens are counted from the stream without logprobs, round by round."""
    from ponder import Engine, Problem
    from ponder.registry import make_strategy

    words = ["so", " \\boxed{", "4", "}", " and", " then", " much", " more"]
    bodies = []

    def handler(request):
        bodies.append(json.loads(request.content))
        chunks = [{"choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]} for w in words]
        return httpx.Response(200, text=sse(chunks), headers={"content-type": "text/event-stream"})

    g = gen(handler)
    assert g.capabilities.answer_stop
    [r] = call(g, GenRequest(messages=(Message("user", "2+2?"),), n=3, params=SamplingParams(max_tokens=64),
                             seed=1, answer_stop=True))
    assert [(o.text, o.finish_reason, o.completion_tokens) for o in r.outputs] == [("so \\boxed{4}", "stop", 4)] * 3
    assert all(b["stream"] and b["n"] == 1 for b in bodies) and sorted(b["seed"] for b in bodies) == [1, 2, 3]
    res = asyncio.run(Engine(g, make_strategy("auto", 8), params=SamplingParams(temperature=0.7)).asolve(
        Problem(prompt="2+2?")))
    rounds = [e for e in res.trace if e["event"] == "round"]
    assert rounds and all(e["tokens"] == 4 * e["samples"] for e in rounds) and res.answer == "4"


def test_an_upstreams_reasoning_content_is_kept_and_votes_read_the_answer_only():
    """vLLM's reasoning parsers and DeepSeek's API return the thinking beside the answer: it rides in
    <think> tags through ponder (so `reasoning_content` can be returned) and never votes."""
    from ponder.answers import extract_answer

    def handler(request):
        return httpx.Response(200, json={"choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "reasoning_content": "maybe \\boxed{3}?", "content": "It is \\boxed{4}."}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 9}})

    [r] = call(gen(handler), GenRequest(messages=(Message("user", "2+2?"),), params=SamplingParams(max_tokens=64)))
    text = r.outputs[0].text
    assert text == "<think>maybe \\boxed{3}?</think>It is \\boxed{4}." and extract_answer(text) == "4"
