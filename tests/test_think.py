"""Thinking budgets with a scripted "reasoning model"."""

import asyncio

import pytest

from ponder import ConfigError, Engine, Problem, ScriptedGenerator
from ponder.strategies.think import ThinkingBudget

Q = Problem(prompt="What is 6 * 7?", id="t")


def model(think_words):
    """Thinks `think_words` words per call, then closes the thinking; answers after </think>."""
    def script(req, i, rng):
        if req.prefix.rstrip().endswith("</think>"):
            return "The answer is \\boxed{42}."
        return " ".join(["hmm"] * think_words) + " </think> done"
    return ScriptedGenerator(script)


def run(gen, **kw):
    return asyncio.run(Engine(gen, ThinkingBudget(**kw), seed=0).asolve(Q))


def test_budget_forces_the_end_of_thinking():
    gen = model(think_words=500)
    res = run(gen, budget=64)
    think_calls = [r for r in gen.requests if "</think>" in r.params.stop]
    assert think_calls[0].params.max_tokens == 64
    ev = [e for e in res.trace if e["event"] == "think"]
    assert ev[-1]["action"] == "force_end" and ev[-1]["thinking_tokens"] == 64
    answer_req = gen.requests[-1]
    assert answer_req.prefix.startswith("<think>\n") and answer_req.prefix.rstrip().endswith("</think>")
    assert res.answer == "42"


def test_early_stop_is_extended_with_the_cue():
    gen = model(think_words=10)
    res = run(gen, budget=100, min_thinking=25, max_extensions=3)
    actions = [e["action"] for e in res.trace if e["event"] == "think"]
    assert actions == ["extend", "extend", "ended"]  # 10, 20 < 25 tokens: extended; 30: done
    third = [r for r in gen.requests if "</think>" in r.params.stop][2]
    assert third.prefix.count("\nWait") == 2 and third.params.max_tokens == 80
    assert res.candidates[0].tokens == 30 + 4  # thinking + "The answer is \\boxed{42}."


def test_think_validation():
    with pytest.raises(ConfigError, match="min_thinking=50"):
        ThinkingBudget(budget=10, min_thinking=50)
