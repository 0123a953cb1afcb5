"""Strategy properties with the scripted fakes: exact, fast, seeded."""

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ponder import (
    Budget,
    CapabilityError,
    ConfigError,
    Engine,
    Problem,
    SamplingParams,
    Scripted,
    ScriptedGenerator,
    ScriptedVerifier,
)
from ponder.strategies.best_of_n import BestOfN
from ponder.strategies.greedy import Greedy
from ponder.strategies.vote import MajorityVote, WeightedVote, tally
from ponder.types import Candidate
from ponder.verifiers.confidence import ConfidenceVerifier

Q = Problem(prompt="What is 6 * 7?", id="q1", answer="42")
SCRIPT = ["6*7 = 42, so \\boxed{42}", "I think \\boxed{41}", "6 sevens are \\boxed{42.0}",
          "The answer is 40", "no idea"]


def run(engine, problem=Q):
    return asyncio.run(engine.asolve(problem))


def test_majority_vote_picks_the_most_common_answer():
    gen = ScriptedGenerator(["\\boxed{42}", "\\boxed{42}", "\\boxed{7}"])
    res = run(Engine(gen, MajorityVote(9), seed=1))
    votes = next(e for e in res.trace if e["event"] == "vote")
    assert len(res.candidates) == 9 and gen.calls == 1  # one batched call
    assert res.answer == max(votes["distribution"], key=votes["distribution"].get)
    assert sum(votes["distribution"].values()) == 9
    assert res.candidates[res.chosen].answer is not None


def test_equivalent_answers_share_a_vote():
    cands = [Candidate(text="", answer=a) for a in ("42", "42.0", "$42", "41", "41")]
    top = tally(cands, weighted=False)[0]
    assert top.key == "42" and top.votes == 3


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["1", "2", "3", "1.0", None, "\\frac{1}{2}", "0.5"]), min_size=1,
                max_size=12), st.randoms())
def test_vote_is_order_invariant(answers, rnd):
    cands = [Candidate(text=str(i), answer=a, score=(i % 3) / 2) for i, a in enumerate(answers)]
    shuffled = list(cands)
    rnd.shuffle(shuffled)
    for weighted in (False, True):
        a, b = tally(cands, weighted=weighted), tally(shuffled, weighted=weighted)
        assert [(t.key, t.votes, t.weight) for t in a] == [(t.key, t.votes, t.weight) for t in b]


def test_ties_break_deterministically_by_key():
    cands = [Candidate(text="", answer=a) for a in ("9", "10")]
    assert tally(cands, weighted=False)[0].key == "10"
    assert tally(list(reversed(cands)), weighted=False)[0].key == "10"


def test_same_seed_same_samples_and_different_seed_differs():
    def texts(seed):
        res = run(Engine(ScriptedGenerator(SCRIPT), MajorityVote(8), seed=seed))
        return [c.text for c in res.candidates]
    assert texts(3) == texts(3)
    assert texts(3) != texts(4)


def test_per_problem_seeds_do_not_depend_on_order():
    probs = [Problem(prompt=f"q{i}", id=f"p{i}") for i in range(4)]
    eng = Engine(ScriptedGenerator(SCRIPT), MajorityVote(5), seed=9)
    fwd = {r.problem_id: [c.text for c in r.candidates] for r in eng.run(probs)}
    rev = {r.problem_id: [c.text for c in r.candidates] for r in eng.run(list(reversed(probs)))}
    assert fwd == rev


def test_best_of_n_with_n1_equals_one_plain_sample():
    params = SamplingParams(temperature=0.8)
    ver = ScriptedVerifier(lambda p, c: len(c.text))
    bon = run(Engine(ScriptedGenerator(SCRIPT), BestOfN(1), ver, params=params, seed=5))
    plain = run(Engine(ScriptedGenerator(SCRIPT), MajorityVote(1), params=params, seed=5))
    assert bon.candidates[0].text == plain.candidates[0].text
    assert (bon.text, bon.answer) == (plain.candidates[0].text, plain.candidates[0].answer)


def test_best_of_n_returns_the_highest_scored():
    ver = ScriptedVerifier({"41": 0.9, "42": 0.2}, default=0.0)
    res = run(Engine(ScriptedGenerator(SCRIPT), BestOfN(16), ver, seed=2))
    assert res.answer == "41"
    assert res.candidates[res.chosen].score == 0.9


def test_weighted_vote_lets_scores_outvote_counts():
    gen = ScriptedGenerator(["\\boxed{1}", "\\boxed{1}", "\\boxed{1}", "\\boxed{2}"])
    ver = ScriptedVerifier({"1": 0.1, "2": 5.0})
    assert run(Engine(gen, MajorityVote(8), seed=0)).answer == "1"
    assert run(Engine(gen, WeightedVote(8), ver, seed=0)).answer == "2"


def test_greedy_is_temperature_zero_and_deterministic():
    gen = ScriptedGenerator(SCRIPT)
    res = run(Engine(gen, Greedy(), seed=0))
    assert gen.requests[-1].params.temperature == 0.0
    assert res.candidates[0].text == SCRIPT[0] and res.answer == "42"


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 12), tokens=st.integers(1, 60), samples=st.integers(1, 12),
       max_tokens=st.integers(1, 10))
def test_budget_is_never_exceeded(n, tokens, samples, max_tokens):
    words = " ".join(["w"] * 15) + " \\boxed{3}"
    eng = Engine(ScriptedGenerator([words]), MajorityVote(n), params=SamplingParams(max_tokens=max_tokens),
                 budget=Budget(tokens=tokens, samples=samples), seed=0)
    res = run(eng)
    assert len(res.candidates) <= samples
    assert res.usage.completion_tokens <= tokens
    assert all(c.tokens <= max_tokens for c in res.candidates)


def test_budget_that_binds_is_recorded_in_the_trace():
    eng = Engine(ScriptedGenerator(["a b c"]), MajorityVote(8), params=SamplingParams(max_tokens=10),
                 budget=Budget(tokens=35), seed=0)
    res = run(eng)
    ev = next(e for e in res.trace if e["event"] == "budget")
    assert ev == {"event": "budget", "asked": 8, "granted": 3, "max_tokens": 10, "bound": "tokens"}


def test_vote_at_temperature_zero_is_rejected_when_built():
    with pytest.raises(ConfigError, match="temperature=0.0"):
        Engine(ScriptedGenerator(SCRIPT), MajorityVote(4), params=SamplingParams(temperature=0))


def test_strategy_needing_a_verifier_fails_when_built():
    with pytest.raises(ConfigError, match="needs a verifier"):
        Engine(ScriptedGenerator(SCRIPT), BestOfN(4))


def test_logprob_verifier_on_backend_without_logprobs_fails_when_built():
    gen = ScriptedGenerator(SCRIPT, logprobs=False)
    with pytest.raises(CapabilityError, match="logprobs"):
        Engine(gen, BestOfN(4), ConfidenceVerifier())


def test_confidence_verifier_asks_for_logprobs():
    gen = ScriptedGenerator([Scripted("\\boxed{1}", -0.1), Scripted("\\boxed{2}", -3.0)])
    res = run(Engine(gen, BestOfN(6), ConfidenceVerifier("mean"), seed=4))
    assert gen.requests[-1].params.logprobs == 0
    assert res.answer == "1"


def test_backend_failure_becomes_a_result_with_the_error_in_its_trace():
    from ponder import RetryableBackendError

    gen = ScriptedGenerator(SCRIPT, errors=[RetryableBackendError("upstream 503")])
    eng = Engine(gen, MajorityVote(2), seed=0, concurrency=1)
    r1, r2 = eng.run([Problem(prompt="a", id="a"), Problem(prompt="b", id="b")])
    assert r1.answer is None and r1.trace[-1]["event"] == "error"
    assert "503" in r1.trace[-1]["message"]
    assert len(r2.candidates) == 2


def test_duplicate_problem_ids_are_rejected():
    eng = Engine(ScriptedGenerator(SCRIPT), MajorityVote(2))
    with pytest.raises(ConfigError, match="problem.id"):
        eng.run([Problem(prompt="a", id="x"), Problem(prompt="b", id="x")])


def test_result_serialises_to_json():
    import json

    res = run(Engine(ScriptedGenerator(SCRIPT), MajorityVote(3), seed=0))
    d = json.loads(json.dumps(res.to_dict()))
    assert set(d) >= {"answer", "candidates", "trace", "usage"}
    assert d["usage"]["calls"] == 1


def test_solve_convenience_api():
    import ponder

    gen = ScriptedGenerator([Scripted("\\boxed{42}", -0.1), Scripted("\\boxed{41}", -2.0)])
    res = ponder.solve("What is 6 * 7?", generator=gen, strategy="vote", n=6, seed=1, max_tokens=20)
    assert isinstance(res, ponder.Result) and len(res.candidates) == 6
    assert gen.requests[-1].params.max_tokens == 20
    # best-of-n defaults to the token-confidence verifier, which needs (and asks for) logprobs
    res = ponder.solve("What is 6 * 7?", generator=gen, strategy="best-of-n", n=6, seed=1)
    assert res.answer == "42" and gen.requests[-1].params.logprobs == 5


def test_budget_counts_the_judges_tokens_too():
    from ponder.verifiers.judge import LLMJudge

    gen = ScriptedGenerator(lambda r, i, rng: "Yes" if r.params.max_tokens <= 3 else "w " * 9 + "\\boxed{1}",
                            logprobs=False)
    eng = Engine(gen, BestOfN(8), LLMJudge(gen, votes=2), params=SamplingParams(max_tokens=10),
                 budget=Budget(tokens=50), seed=0)
    res = run(eng)
    assert res.usage.completion_tokens <= 50
    assert len(res.candidates) == 3  # each candidate reserves 10 tokens + 2 votes × 3 judge tokens


def test_the_vote_groups_answers_off_the_event_loop(monkeypatch):
    import threading

    from ponder.strategies import vote

    seen = []
    real = vote.answer_keys

    def recording(cands):
        seen.append(threading.current_thread())
        return real(cands)

    plain = run(Engine(ScriptedGenerator(SCRIPT), MajorityVote(5), seed=1))
    monkeypatch.setattr(vote, "answer_keys", recording)
    res = run(Engine(ScriptedGenerator(SCRIPT), MajorityVote(5), seed=1))
    assert res.answer == plain.answer is not None and seen and threading.main_thread() not in seen


def test_a_problem_whose_request_is_refused_fails_alone_in_a_batch():
    from ponder.backends.batching import BatchingGenerator
    from ponder.types import GenResponse

    class RefusesLongPrompts:
        """Answers every request, except that one too long for its context gets an error of its own."""

        def __init__(self):
            self.inner = ScriptedGenerator(["\\boxed{42}"])
            self.name = "refuses"

        @property
        def capabilities(self):
            return self.inner.capabilities

        async def generate(self, requests, *, progress=None):
            out = []
            for r in requests:
                text = r.prompt or r.messages[-1].content
                if len(text) > 200:
                    out.append(GenResponse.failed(ConfigError("max_tokens", 512, "prompt exceeds the context")))
                else:
                    [resp] = await self.inner.generate([r])
                    out.append(resp)
            return out

    gen = BatchingGenerator(RefusesLongPrompts(), window_s=0.05)
    probs = [Problem(prompt="6 * 7?", id="short"), Problem(prompt="x" * 500, id="long"),
             Problem(prompt="7 * 6?", id="short2")]
    res = Engine(gen, MajorityVote(2), concurrency=3).run(probs)
    assert [r.answer for r in res] == ["42", None, "42"]
    err = [e for e in res[1].trace if e["event"] == "error"]
    assert err and err[0]["type"] == "ConfigError" and "max_tokens" in err[0]["message"]
    assert gen.batches[0] == 3  # they did share one backend call
