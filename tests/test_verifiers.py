import asyncio
import math

import pytest

from ponder import ConfigError, Problem, Scripted, ScriptedGenerator, TokenLogprob
from ponder.types import Candidate
from ponder.verifiers.confidence import (
    ConfidenceVerifier,
    lowest_group_confidence,
    tail_confidence,
    token_confidence,
)
from ponder.verifiers.judge import LLMJudge
from ponder.verifiers.programmatic import FunctionVerifier, ReferenceVerifier

P = Problem(prompt="What is 2+2?", answer="4")


def tok(lp, *top):
    return TokenLogprob("t", lp, tuple(("a", x) for x in top))


def test_token_and_group_confidence_by_hand():
    assert token_confidence(tok(-0.5, -0.5, -1.5)) == pytest.approx(1.0)
    assert token_confidence(tok(-2.0)) == pytest.approx(2.0)  # no alternatives: chosen token
    lps = [tok(0, -1.0, -1.0), tok(0, -3.0, -3.0), tok(0, -1.0, -1.0), tok(0, -0.2, -0.2)]
    # token confidences 1, 3, 1, 0.2; windows of 2: 2, 2, 0.6 -> lowest 0.6
    assert lowest_group_confidence(lps, 2) == pytest.approx(0.6)
    assert tail_confidence(lps, 2) == pytest.approx(0.6)
    assert lowest_group_confidence(lps, 10) == pytest.approx(5.2 / 4)


def test_confidence_verifier_methods():
    c = Candidate(text="x", answer="4", logprobs=(tok(-0.1, -0.1, -2.0), tok(-0.3, -0.3, -1.0)))
    mean = asyncio.run(ConfidenceVerifier("mean").score(P, [c])).values[0]
    assert mean == pytest.approx(math.exp(-0.2))
    assert asyncio.run(ConfidenceVerifier("tail", window=1).score(P, [c])).values[0] == pytest.approx(0.65)
    assert asyncio.run(ConfidenceVerifier().score(P, [Candidate(text="", answer=None)])).values == (0.0,)
    with pytest.raises(ConfigError, match="method='median'"):
        ConfidenceVerifier("median")


def test_reference_verifier_is_an_oracle():
    v = ReferenceVerifier()
    assert v.oracle
    cands = [Candidate(text="", answer=a) for a in ("4", "4.0", "5", None)]
    assert asyncio.run(v.score(P, cands)).values == (1.0, 1.0, 0.0, 0.0)
    with pytest.raises(ConfigError, match="problem.answer"):
        asyncio.run(v.score(Problem(prompt="q"), cands))


def test_function_verifier_rejects_negative_scores():
    v = FunctionVerifier(lambda p, c: c.answer == "4")
    assert asyncio.run(v.score(P, [Candidate("", "4"), Candidate("", "3")])).values == (1.0, 0.0)
    with pytest.raises(ConfigError, match="negative"):
        asyncio.run(FunctionVerifier(lambda p, c: -1).score(P, [Candidate("", "4")]))


def judge_script(req, i, rng):
    # the judge prompt contains the solution; say Yes only to the right one
    return "Yes" if "\\boxed{4}" in req.messages[-1].content else "No"


def test_llm_judge_with_logprobs_reads_p_yes():
    gen = ScriptedGenerator(judge_script, top_logprobs=20)
    judge = LLMJudge(gen)
    cands = [Candidate("so \\boxed{4}", "4"), Candidate("so \\boxed{5}", "5")]
    scores = asyncio.run(judge.score(P, cands))
    assert gen.requests[0].params.max_tokens == 1 and gen.requests[0].params.logprobs == 20
    assert scores.values[0] > 0.5 > scores.values[1]
    assert scores.usage.completion_tokens == 2  # one verdict token per candidate, counted


def test_llm_judge_without_logprobs_votes():
    gen = ScriptedGenerator(judge_script, logprobs=False)
    judge = LLMJudge(gen, votes=3)
    scores = asyncio.run(judge.score(P, [Candidate("\\boxed{4}", "4"), Candidate("\\boxed{5}", "5")]))
    assert scores.values == (1.0, 0.0)
    assert all(r.n == 3 for r in gen.requests)


def test_judge_template_must_have_placeholders():
    with pytest.raises(ConfigError, match="template"):
        LLMJudge(ScriptedGenerator(["Yes"]), template="Is it right?")


def test_scripted_fake_respects_max_tokens_and_stop():
    gen = ScriptedGenerator([Scripted("a b c d e f STOP g h")])
    from ponder import GenRequest, SamplingParams

    [r] = asyncio.run(gen.generate([GenRequest(prompt="q", n=2, params=SamplingParams(max_tokens=3))]))
    assert all(o.completion_tokens == 3 and o.finish_reason == "length" for o in r.outputs)
    [r] = asyncio.run(gen.generate([GenRequest(prompt="q", params=SamplingParams(stop=("STOP",)))]))
    assert r.outputs[0].text == "a b c d e f "
