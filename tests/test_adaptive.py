"""Early stopping strategies with scripted fakes: settled votes stop early, unsure traces are dropped."""

import asyncio

import pytest

from ponder import CapabilityError, ConfigError, Engine, Problem, SamplingParams, Scripted, ScriptedGenerator
from ponder.strategies.adaptive import AdaptiveVote, DeepConf, beta_leader_probability
from ponder.types import ConfidenceStop, GenRequest

Q = Problem(prompt="q", id="q")


def run(strategy, gen, **kw):
    return asyncio.run(Engine(gen, strategy, seed=kw.pop("seed", 0), **kw).asolve(Q))


def test_beta_rule_by_hand():
    assert beta_leader_probability(4, 0) == pytest.approx(31 / 32)
    assert beta_leader_probability(3, 1) == pytest.approx(26 / 32)
    assert beta_leader_probability(0, 0) == 0.5
    assert beta_leader_probability(10, 10) == pytest.approx(0.5)


def test_easy_questions_stop_early_and_hard_ones_use_everything():
    easy = ScriptedGenerator(["w w w \\boxed{7}"])
    hard = ScriptedGenerator([f"w w w \\boxed{{{i}}}" for i in range(6)])
    e = run(AdaptiveVote(16, batch=4), easy)
    h = run(AdaptiveVote(16, batch=4), hard)
    assert len(e.candidates) == 4 and e.answer == "7"
    assert len(h.candidates) == 16
    assert e.usage.completion_tokens * 4 == h.usage.completion_tokens
    rounds = [ev for ev in e.trace if ev["event"] == "round"]
    assert rounds[-1]["stop"] and rounds[-1]["p_leader"] >= 0.95


def test_rounds_draw_new_samples():
    gen = ScriptedGenerator([f"\\boxed{{{i}}}" for i in range(50)])
    res = run(AdaptiveVote(8, batch=4), gen)
    assert len({c.text for c in res.candidates}) > 4  # round 2 is not a copy of round 1
    assert len({r.seed for r in gen.requests}) == 2


def test_esc_window_rule():
    res = run(AdaptiveVote(16, batch=4, rule="esc"), ScriptedGenerator(["\\boxed{3}"]))
    assert len(res.candidates) == 4
    with pytest.raises(ConfigError, match="rule='majority'"):
        AdaptiveVote(rule="majority")


def test_deepconf_offline_keeps_the_confident_traces():
    # one confident answer against three unsure ones: plain majority says 2, DeepConf says 1
    gen = ScriptedGenerator(lambda r, i, rng: Scripted("a b c \\boxed{1}", -0.05) if i % 4 == 0
                            else Scripted("a b c \\boxed{2}", -1.5))
    res = run(DeepConf(8, mode="offline", keep=0.25, window=2), gen)
    assert res.answer == "1"
    f = next(e for e in res.trace if e["event"] == "filter")
    assert sorted(f["kept"]) == [0, 4]


def test_deepconf_online_cuts_unsure_traces_while_generating():
    def script(req, i, rng):
        if req.confidence_stop is None:  # warm-up: confident traces
            return Scripted(" ".join(["w"] * 20) + " \\boxed{5}", -0.05)
        return Scripted(" ".join(["w"] * 20) + " \\boxed{9}", -2.0 if i % 2 else -0.05)

    gen = ScriptedGenerator(script)
    res = run(DeepConf(8, mode="online", warmup=4, keep=0.9, window=4), gen)
    cut = [c for c in res.candidates if c.finish_reason == "cutoff"]
    assert len(cut) == 2 and all(c.tokens == 4 for c in cut)  # stopped after one window
    assert res.usage.completion_tokens == 6 * 21 + 2 * 4  # cut tokens still count
    assert res.answer == "5"


def test_deepconf_needs_logprobs_and_online_needs_confidence_stop():
    with pytest.raises(CapabilityError, match="logprobs"):
        Engine(ScriptedGenerator(["x"], logprobs=False), DeepConf(4, warmup=2))
    import dataclasses

    plain = ScriptedGenerator(["x"])
    plain._caps = dataclasses.replace(plain._caps, confidence_stop=False)
    with pytest.raises(CapabilityError, match="offline"):
        Engine(plain, DeepConf(4, warmup=2))
    Engine(plain, DeepConf(4, mode="offline"))  # fine
    with pytest.raises(ConfigError, match="temperature"):
        Engine(ScriptedGenerator(["x"]), AdaptiveVote(4), params=SamplingParams(temperature=0))
    with pytest.raises(ConfigError, match="window=0"):
        ConfidenceStop(threshold=1.0, window=0)


@pytest.mark.e2e
def test_confidence_stop_on_the_real_model(llama):
    from ponder import Message

    req = GenRequest(messages=(Message("user", "Tell me a story."),), n=2, seed=0,
                     params=SamplingParams(max_tokens=40), confidence_stop=ConfidenceStop(threshold=1e9, window=5))
    [r] = llama.generate_sync([req])
    assert all(o.finish_reason == "cutoff" and o.completion_tokens == 5 for o in r.outputs)


def test_deepconf_online_over_http_closes_low_confidence_streams():
    import json

    import httpx

    from ponder import Message, OpenAIGenerator

    def sse(tokens, lp, alt, usage=True):
        lines = []
        for t in tokens:
            top = [{"token": t, "logprob": lp}, {"token": "x", "logprob": alt}]
            chunk = {"choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None,
                                  "logprobs": {"content": [{"token": t, "logprob": lp, "top_logprobs": top}]}}]}
            lines.append(f"data: {json.dumps(chunk)}")
        lines.append('data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}')
        if usage:
            usage_chunk = {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": len(tokens)}}
            lines.append(f"data: {json.dumps(usage_chunk)}")
        lines.append("data: [DONE]")
        return ("\n\n".join(lines) + "\n\n").encode()

    def handler(request):
        body = json.loads(request.content)
        assert body["stream"] and body["logprobs"] and body["n"] == 1
        confident = body["seed"] % 2 == 0
        return httpx.Response(200, headers={"content-type": "text/event-stream"},
                              content=sse(["w"] * 20 + [" \\boxed{1}"],
                                          *((-0.01, -6.0) if confident else (-0.7, -0.8))))

    gen = OpenAIGenerator("http://up.test", model="m", transport=httpx.MockTransport(handler))
    req = GenRequest(messages=(Message("user", "q"),), n=4, seed=10, params=SamplingParams(max_tokens=64),
                     confidence_stop=ConfidenceStop(threshold=2.0, window=4, top_k=2))
    [r] = asyncio.run(gen.generate([req]))
    reasons = [o.finish_reason for o in r.outputs]
    assert reasons == ["stop", "cutoff", "stop", "cutoff"]
    assert [o.completion_tokens for o in r.outputs] == [21, 4, 21, 4]  # cut after one window
    assert r.usage.completion_tokens == 50 and r.usage.prompt_tokens == 28
    assert any(e["event"] == "confidence_cutoff" for e in r.events)


def test_fractional_beta_matches_the_exact_one_and_orders_by_weight():
    assert beta_leader_probability(4.0000001, 0.0) == pytest.approx(31 / 32, abs=1e-4)
    assert beta_leader_probability(3.0000001, 1.0) == pytest.approx(26 / 32, abs=1e-4)
    assert beta_leader_probability(2.5, 0.5) > beta_leader_probability(2.0, 1.0)
    assert beta_leader_probability(1.5, 1.5) == pytest.approx(0.5, abs=1e-6)


def test_confidence_weighted_stopping_settles_a_split_vote_held_by_confident_samples():
    def script(req, i, rng):  # half the samples say 7 confidently, half say 8 unsure
        return Scripted("w \\boxed{7}", -0.02) if i % 2 == 0 else Scripted("w \\boxed{8}", -3.0)
    plain = run(AdaptiveVote(16, batch=4, threshold=0.9), ScriptedGenerator(script))
    weighted = run(AdaptiveVote(16, batch=4, threshold=0.9, weighted=True), ScriptedGenerator(script))
    assert len(plain.candidates) == 16  # 50/50 never settles
    assert len(weighted.candidates) < 16 and weighted.answer == "7"
    assert all(c.score is not None for c in weighted.candidates)
    with pytest.raises(ConfigError, match="weighted"):
        AdaptiveVote(8, rule="esc", weighted=True)
    with pytest.raises(CapabilityError):
        run(AdaptiveVote(8, weighted=True), ScriptedGenerator(["\\boxed{1}"], logprobs=False))
