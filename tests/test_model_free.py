"""Paths that used to be reached only through a model: the sampler's nucleus on a real-sized vocabulary,
the LLM-as-PRM verifier on the scripted fake, and wall-clock budgets on an injected clock."""

import asyncio

import numpy as np
import pytest

from ponder import Problem, SamplingParams, ScriptedGenerator
from ponder.backends.sampling import _NUCLEUS_PROBE, sample_token
from ponder.budget import BudgetMeter
from ponder.errors import BudgetExhaustedError
from ponder.params import Budget
from ponder.verifiers.llm_prm import LLMPRM

VOCAB = 32_000


def nucleus(logits, top_p, temperature=1.0):
    """The top-p set by brute force: the smallest prefix of the sorted probabilities reaching top_p."""
    x = logits / temperature
    p = np.exp(x - x.max())
    p /= p.sum()
    order = np.argsort(-p, kind="stable")
    cut = int(np.searchsorted(np.cumsum(p[order]), top_p)) + 1
    return set(order[:cut].tolist()), p


@pytest.mark.parametrize("shape", ["peaked", "flat"])
def test_every_nucleus_token_lies_in_the_top_p_set_and_follows_its_distribution(shape):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=VOCAB)
    if shape == "peaked":  # the nucleus fits in the probe: the fast path
        logits[:40] += 12.0
    params = SamplingParams(temperature=1.0, top_p=0.9)
    kept, p = nucleus(logits, 0.9)
    assert (len(kept) < _NUCLEUS_PROBE) == (shape == "peaked")  # both paths are exercised
    draws = [sample_token(logits, params, np.random.default_rng([7, i])) for i in range(1500)]
    assert set(draws) <= kept
    top = max(kept, key=lambda t: p[t])
    expected = p[top] / sum(p[t] for t in kept)
    assert abs(draws.count(top) / len(draws) - expected) < 0.02 + 3 * np.sqrt(expected / len(draws))


def test_top_k_and_min_p_keep_only_their_sets_on_a_large_vocabulary():
    logits = np.random.default_rng(1).normal(size=VOCAB)
    top5 = set(np.argsort(-logits)[:5].tolist())
    assert {sample_token(logits, SamplingParams(top_k=5), np.random.default_rng(i)) for i in range(300)} <= top5
    p = np.exp(logits - logits.max())
    above = set(np.flatnonzero(p >= 0.5).tolist())
    got = {sample_token(logits, SamplingParams(min_p=0.5), np.random.default_rng(i)) for i in range(300)}
    assert got <= above


def prm_script(req, i, rng):
    """A judge that says Yes to steps that compute 2 + 2 = 4 and No otherwise."""
    text = req.messages[-1].content if req.messages else req.prompt
    step = text.split("Next step:\n", 1)[1].split("\n\nIs the next step", 1)[0]
    return "Yes" if "= 4" in step else "No"


@pytest.mark.parametrize("logprobs", [True, False])
def test_llm_prm_scores_each_step_with_the_scripted_fake(logprobs):
    from ponder.backends.fake import Scripted

    def script(req, i, rng):
        return Scripted(prm_script(req, i, rng), logprob=-0.05)

    gen = ScriptedGenerator(script, logprobs=logprobs, top_logprobs=5 if logprobs else 0)
    prm = LLMPRM(gen, votes=3)
    got = asyncio.run(prm.score_steps(Problem(prompt="What is 2 + 2?"),
                                      [["First, 2 + 2 = 4.", "So the answer is 4."], ["2 + 2 = 5"]]))
    (good_first, good_last), (bad,) = got.values
    assert good_first > 0.9 and bad < 0.1 and good_last < 0.1  # the second step computes nothing
    assert got.usage.calls == 3  # one batched verdict per step
    last_only = asyncio.run(prm.score_steps(Problem(prompt="What is 2 + 2?"), [["2 + 2 = 4", "more"]],
                                            last_only=True))
    assert len(last_only.values[0]) == 1


def test_wall_clock_budgets_on_an_injected_clock():
    now = [100.0]
    meter = BudgetMeter(Budget(wall_s=5.0, tokens=100), clock=lambda: now[0])
    assert meter.deadline == 105.0
    assert meter.grant(2, 30).n == 2
    now[0] = 104.9
    assert meter.grant(1, 30).n == 1
    now[0] = 105.0
    with pytest.raises(BudgetExhaustedError, match="wall-clock budget of 5.0s"):
        meter.grant(1, 10)
