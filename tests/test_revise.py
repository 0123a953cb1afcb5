"""Sequential revisions and the parallel × sequential mix, with a scripted model that is wrong on its
first attempt and right once it revises."""

import asyncio
import dataclasses

import pytest

from ponder import CapabilityError, ConfigError, Engine, Problem, ScriptedGenerator
from ponder.params import Budget, SamplingParams
from ponder.prompts import CRITIQUE_INSTRUCTION, REFLECT_CUE, REVISE_AFTER_CRITIQUE, REVISE_INSTRUCTION
from ponder.registry import make_strategy, make_verifier
from ponder.strategies.revise import Revise

Q = Problem(prompt="What is 6 * 7?", id="r", answer="42")


def reviser(req, i, rng):
    """Critiques when asked to; otherwise 41 on a first attempt, 42 once it has seen an attempt."""
    if req.messages and req.messages[-1].content == CRITIQUE_INSTRUCTION:
        return "The product is wrong."
    seen = req.prefix.count(REFLECT_CUE) if req.prefix else sum(m.role == "assistant" for m in req.messages or ())
    if req.prompt is not None:
        seen = req.prompt.count("Answer:") - 1
    return "6 * 7 = \\boxed{41}" if seen == 0 else "Fixed: 6 * 7 = \\boxed{42}"


def run(strategy, gen=None, verifier=None, budget=None):
    gen = gen or ScriptedGenerator(reviser)
    eng = Engine(gen, strategy, verifier, params=SamplingParams(temperature=0.7, max_tokens=64), budget=budget,
                 seed=3)
    return gen, asyncio.run(eng.asolve(Q))


def test_one_chain_revises_its_attempts_in_order():
    gen, res = run(Revise(3, select="last"))
    assert gen.calls == 3 and [len(r.messages) for r in gen.requests] == [1, 3, 5]
    second = gen.requests[1].messages
    assert second[1].role == "assistant" and "boxed{41}" in second[1].content
    assert second[2].content == REVISE_INSTRUCTION
    assert [c.answer for c in res.candidates] == ["41", "42", "42"]
    assert res.answer == "42" and res.chosen == 2
    rounds = [e for e in res.trace if e["event"] == "revise"]
    assert [e["answers"] for e in rounds] == [["41"], ["42"], ["42"]]
    assert [e for e in res.trace if e["event"] == "chains"][0]["attempts"] == [["41", "42", "42"]]
    assert res.usage.completion_tokens == sum(c.tokens for c in res.candidates)


def test_chains_advance_together_one_call_per_round():
    gen, res = run(Revise(4, chains=2))
    assert gen.calls == 2  # round 0: one request with n=2; round 1: both chains in one call
    assert gen.requests[0].n == 2 and [r.n for r in gen.requests[1:]] == [1, 1]
    assert gen.requests[1].seed != gen.requests[2].seed
    assert gen.requests[1].messages[0] == gen.requests[2].messages[0]  # the shared question prefix
    assert [c.answer for c in res.candidates] == ["41", "42", "41", "42"]  # chain-major
    assert res.answer in ("41", "42")


def test_uneven_n_advances_only_the_chains_needed():
    gen, res = run(Revise(5, chains=2))
    assert len(res.candidates) == 5 and [r.n for r in gen.requests] == [2, 1, 1, 1]
    assert [e["chains"] for e in res.trace if e["event"] == "revise"] == [[0, 1], [0, 1], [0]]


def test_window_bounds_the_attempts_shown():
    gen, _ = run(Revise(4, window=1))
    assert [sum(m.role == "assistant" for m in r.messages) for r in gen.requests] == [0, 1, 1, 1]


def test_critique_then_revise():
    gen, res = run(Revise(2, mode="critique", critique_tokens=16))
    crit = [r for r in gen.requests if r.messages[-1].content == CRITIQUE_INSTRUCTION]
    assert len(crit) == 1 and crit[0].params.max_tokens == 16
    last = gen.requests[-1].messages
    assert [m.content for m in last[-3:]][1:] == ["The product is wrong.", REVISE_AFTER_CRITIQUE]
    assert [c.answer for c in res.candidates] == ["41", "42"]
    words = len("Fixed: 6 * 7 = \\boxed{42}".split()) + len("The product is wrong.".split())
    assert res.candidates[1].tokens == words  # the revision plus the critique it needed (the fake: a word a token)
    assert res.usage.completion_tokens == sum(c.tokens for c in res.candidates)


def test_reflect_continues_the_answer_after_a_cue():
    gen, res = run(Revise(3, mode="reflect", select="last"))
    assert [r.prefix.count(REFLECT_CUE) for r in gen.requests] == [0, 1, 2]
    assert res.answer == "42"
    plain = ScriptedGenerator(reviser)
    plain._caps = dataclasses.replace(plain.capabilities, continuation=False)
    with pytest.raises(CapabilityError, match="mode=reflect"):
        Engine(plain, Revise(2, mode="reflect"))


def test_a_base_model_reads_a_transcript():
    gen = ScriptedGenerator(reviser)
    gen._caps = dataclasses.replace(gen.capabilities, chat=False)
    gen, res = run(Revise(2, select="last"), gen=gen)
    assert gen.requests[1].prompt.startswith("Question: What is 6 * 7?")
    assert gen.requests[1].prompt.endswith(f"{REVISE_INSTRUCTION}\nAnswer:") and res.answer == "42"


def test_best_needs_a_verifier_and_picks_the_top_score():
    with pytest.raises(ConfigError, match="needs a verifier"):
        run(Revise(2, select="best"))
    gen = ScriptedGenerator(reviser)
    _, res = run(Revise(3, select="best"), gen=gen, verifier=make_verifier("reference", gen))
    assert res.answer == "42" and res.candidates[res.chosen].score == max(c.score for c in res.candidates)


def test_the_budget_stops_the_chains():
    gen, res = run(Revise(6, chains=2), budget=Budget(samples=3))
    assert len(res.candidates) == 3
    assert any(e["event"] == "budget" for e in res.trace)


@pytest.mark.parametrize("kw,param", [({"chains": 5}, "chains=5"), ({"mode": "rethink"}, "mode='rethink'"),
                                      ({"select": "max"}, "select='max'"), ({"window": 0}, "window=0")])
def test_bad_options_name_themselves(kw, param):
    with pytest.raises(ConfigError, match=param):
        make_strategy("revise", 4, **kw)


def test_many_chains_need_sampling():
    gen = ScriptedGenerator(reviser)
    with pytest.raises(ConfigError, match="temperature"):
        Engine(gen, Revise(4, chains=2), params=SamplingParams(temperature=0.0))
    Engine(gen, Revise(4), params=SamplingParams(temperature=0.0))  # one chain: its prompts differ
