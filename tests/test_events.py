"""The live event feed under every strategy: trace events as they happen, each sample's text as it
grows, its answer when it finishes, and the compute spent."""

import asyncio
from collections import defaultdict

import pytest

from ponder import Engine, Problem, ScriptedGenerator
from ponder.params import Budget, SamplingParams
from ponder.registry import make_strategy, make_verifier

Q = Problem(prompt="What is 6 * 7?", id="e")


def script(req, i, rng):
    return f"Six times seven.\nSo the answer is \\boxed{{{42 if i % 3 else 41}}}"


def run(strategy, gen=None, verifier=None, **kw):
    gen = gen or ScriptedGenerator(script)
    events = []
    eng = Engine(gen, strategy, verifier, params=SamplingParams(temperature=0.7, max_tokens=64), seed=1, **kw)
    res = asyncio.run(eng.asolve(Q, listener=events.append))
    return res, events


def lanes(events):
    text = defaultdict(str)
    for e in events:
        if e["event"] == "delta":
            key = (e["call"], e["request"], e["sample"])
            text[key] = e["text"] if e.get("replace") else text[key] + e["text"]
    return dict(text)


def test_vote_streams_every_sample_then_its_answer_then_the_tally():
    res, events = run(make_strategy("vote", 4))
    text = lanes(events)
    assert sorted(text) == [(1, 0, i) for i in range(4)]
    assert [text[(1, 0, i)] for i in range(4)] == [c.text for c in res.candidates]  # deltas add up exactly
    assert sum(e["event"] == "delta" for e in events) > 4  # word by word, not one blob per sample
    done = {e["sample"]: e["answer"] for e in events if e["event"] == "sample_done"}
    assert done == {i: c.answer for i, c in enumerate(res.candidates)}
    kinds = [e["event"] for e in events]
    assert kinds.index("sample_done") < kinds.index("sample") < kinds.index("vote")  # as it happens
    assert [e for e in events if e["event"] not in ("delta", "sample_done", "usage")] == list(res.trace)
    [u] = [e for e in events if e["event"] == "usage"]
    assert u["completion_tokens"] == res.usage.completion_tokens and u["calls"] == 1


def test_rounds_and_revisions_number_their_calls():
    res, events = run(make_strategy("revise", 3, chains=1))
    assert sorted(lanes(events)) == [(1, 0, 0), (2, 0, 0), (3, 0, 0)]
    usage = [e for e in events if e["event"] == "usage"]
    assert [u["calls"] for u in usage] == [1, 2, 3]


def test_search_reports_its_tree_and_the_budget_left():
    gen = ScriptedGenerator(lambda req, i, rng: "Step one.\n\n" if not req.prefix else "So \\boxed{42}")
    res, events = run(make_strategy("beam", 4, width=2, max_steps=3), gen=gen,
                      verifier=make_verifier("llm-prm", gen), budget=Budget(tokens=400))
    expands = [e for e in events if e["event"] == "expand"]
    assert expands and all({"id", "parent", "depth", "score"} <= set(n) for e in expands for n in e["nodes"])
    assert any(e["event"] == "prune" for e in events)
    left = [e["tokens_left"] for e in events if e["event"] == "usage"]
    assert left == sorted(left, reverse=True) and 0 < left[-1] < 400


def test_without_a_listener_requests_are_untouched():
    gen = ScriptedGenerator(script)
    asyncio.run(Engine(gen, make_strategy("vote", 2), params=SamplingParams(temperature=0.7)).asolve(Q))
    assert all(r.on_text is None for r in gen.requests)


@pytest.mark.parametrize("cut", [True, False])
def test_a_backend_that_reports_nothing_is_completed_from_its_responses(cut):
    class Silent(ScriptedGenerator):
        async def generate(self, requests, *, progress=None):
            out = await super().generate([r.__class__(**{**{f: getattr(r, f) for f in r.__dataclass_fields__},
                                                         "on_text": None}) for r in requests], progress=progress)
            if cut:  # as if the text streamed on, then the sample was cut back at a stop string
                requests[0].on_text(0, out[0].outputs[0].text + " extra", False)
            return out

    res, events = run(make_strategy("vote", 3), gen=Silent(script))
    assert [lanes(events)[(1, 0, i)] for i in range(3)] == [c.text for c in res.candidates]
    assert len([e for e in events if e["event"] == "sample_done"]) == 3
