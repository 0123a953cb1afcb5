"""`auto` and the learned stopping rule, with scripted fakes and synthetic self-consistency logs."""

import asyncio
import json
import random

import pytest

from ponder import CapabilityError, ConfigError, Engine, Problem, Scripted, ScriptedGenerator
from ponder.allocation.auto import Auto
from ponder.allocation.stopping import FEATURES, StopRule, fit_stop_rule, logistic_fit, schedule, stop_features
from ponder.answers import answer_written
from ponder.registry import make_strategy
from ponder.strategies.vote import MajorityVote

Q = Problem(prompt="q", id="q")


def run(strategy, gen, seed=0, **kw):
    return asyncio.run(Engine(gen, strategy, seed=seed, **kw).asolve(Q))


def synthetic_log(count, seed=0, n=16):
    """Self-consistency records of three kinds of question: easy (samples agree on the reference),
    hard (the reference wins a plurality) and hopeless (samples scatter, none right). Confident
    samples are the right ones."""
    rng = random.Random(seed)
    recs = []
    for q in range(count):
        kind = ("easy", "hard", "hopeless")[q % 3]
        cands = []
        for _ in range(n):
            if kind == "easy":
                ans = "1" if rng.random() < 0.95 else "2"
            elif kind == "hard":
                ans = "1" if rng.random() < 0.45 else str(rng.randint(2, 5))
            else:
                ans = str(rng.randint(2, 40))
            right = ans == "1"
            cands.append({"answer": ans, "correct": right, "tokens": rng.randint(80, 120) if right else 200,
                          "score": rng.gauss(5.0 if right else 3.5, 0.3), "finish_reason": "stop"})
        recs.append({"problem_id": f"p{q}", "seed": 0, "reference": "1", "candidates": cands})
    return recs


def test_logistic_fit_recovers_a_separating_direction():
    rng = random.Random(0)
    x = [[rng.gauss(0, 1), rng.gauss(0, 1)] for _ in range(400)]
    y = [int(a + 0.1 * rng.gauss(0, 1) > 0) for a, _ in x]
    w = logistic_fit(x, y, l2=0.1)
    assert w[1] > 3 and abs(w[2]) < 1  # the label follows feature 1, not feature 2


def test_features_of_a_settled_vote_and_a_scattered_one():
    settled = stop_features(["7", "7", "7", "7"], [5.0] * 4, [100] * 4, ["stop"] * 4, 16)
    scattered = stop_features(["1", "2", "3", None], [3.0] * 4, [300] * 4, ["stop", "stop", "stop", "length"], 16)
    f = dict(zip(FEATURES, settled, strict=True))
    g = dict(zip(FEATURES, scattered, strict=True))
    assert f["round"] == 0.25 and f["leader_share"] == 1 and f["distinct"] == 0.25
    assert f["beta"] == pytest.approx(31 / 32)
    assert g["no_answer"] == 0.25 and g["truncated"] == 0.25 and g["distinct"] == 0.75 and g["leader_share"] == 0.25


def test_schedule():
    assert schedule(2, 2, 16) == [2, 4, 6, 8, 10, 12, 14, 16]
    assert schedule(4, 3, 10) == [4, 7, 10]
    assert schedule(3, 4, 5) == [3, 5]


@pytest.mark.parametrize("target", ["outcome", "answer"])
def test_fitted_rule_saves_tokens_on_a_fresh_log_within_the_drop(target):
    rule = fit_stop_rule(synthetic_log(90, seed=1), max_drop=0.0, target=target)
    assert rule.uses_scores and rule.n_max == 16 and rule.threshold <= 1 and rule.fitted_on["target"] == target
    fit = rule.fitted_on
    assert fit["cross_fitted"]["accuracy"] >= fit["self_consistency"]["accuracy"]
    # outcome also stops the hopeless questions (scattered samples, none right); answer only settled votes
    saved = 0.5 if target == "outcome" else 0.9
    assert fit["cross_fitted"]["tokens"] < saved * fit["self_consistency"]["tokens"]
    # on questions it never saw: easy ones stop at the first consultation, the vote stays as right
    from ponder.allocation.stopping import _questions, simulate

    fresh = _questions(synthetic_log(60, seed=2))
    ks = schedule(rule.min_samples, rule.round_size, rule.n_max)
    probs = []
    for q in fresh:
        probs.append([rule.probability(stop_features(q.keys[:k], q.scores[:k], q.tokens[:k], q.finish[:k], 16))
                      for k in ks[:-1]])
    acc, tok, same = simulate(fresh, probs, ks, rule.threshold)
    full_acc, full_tok, _ = simulate(fresh, [[0.0] * (len(ks) - 1)] * len(fresh), ks, 2.0)
    assert acc >= full_acc - 0.05 and tok < (saved + 0.1) * full_tok
    if target == "answer":  # it stops where the answer is the one sixteen samples give
        assert same >= 0.95
        stops = [next((k for k, p in zip(ks, probs[i]) if p >= rule.threshold), 16) for i in range(len(fresh))]
        easy, hopeless = stops[0::3], stops[2::3]
        assert max(easy) < 16 and sum(hopeless) / len(hopeless) > 1.5 * sum(easy) / len(easy)


def test_fit_target_is_checked():
    with pytest.raises(ConfigError, match="target='votes'"):
        fit_stop_rule(synthetic_log(30), target="votes")


def test_rule_round_trips_through_json_and_refuses_other_files(tmp_path):
    rule = fit_stop_rule(synthetic_log(30))
    p = tmp_path / "stop.json"
    rule.save(p)
    again = StopRule.load(p)
    f = stop_features(["1", "1"], [5.0, 5.0], [90, 95], ["stop", "stop"], 16)
    assert again.probability(f) == pytest.approx(rule.probability(f))
    (tmp_path / "policy.json").write_text(json.dumps({"version": 1, "features": ["x"]}))
    with pytest.raises(ConfigError, match="rule=.*not a ponder stop-rule file"):
        StopRule.load(tmp_path / "policy.json")
    with pytest.raises(ConfigError, match="cannot read"):
        StopRule.load(tmp_path / "missing.json")


def test_fit_refuses_logs_it_cannot_learn_from():
    with pytest.raises(ConfigError, match="log"):
        fit_stop_rule(synthetic_log(2))
    with pytest.raises(ConfigError, match="min_samples"):
        fit_stop_rule(synthetic_log(12, n=2), min_samples=2)
    with pytest.raises(ConfigError, match="max_drop"):
        fit_stop_rule(synthetic_log(12), max_drop=1.5)


def test_auto_without_a_rule_stops_easy_questions_after_few_samples():
    easy = ScriptedGenerator(["w w \\boxed{7}"])
    hard = ScriptedGenerator([f"w w \\boxed{{{i}}}" for i in range(8)])
    e = run(Auto(16), easy)
    h = run(Auto(16), hard)
    assert e.answer == "7" and len(e.candidates) == 4  # Beta(4, 0) = 31/32 >= 0.95, rounds of 2
    assert len(h.candidates) == 16
    rounds = [ev for ev in e.trace if ev["event"] == "round"]
    assert [r["samples"] for r in rounds] == [2, 4] and rounds[-1]["stop"] and not rounds[0]["stop"]
    assert [ev for ev in e.trace if ev["event"] == "auto"][0]["rule"] == "beta"
    assert make_strategy("auto", 8, batch=4).batch == 4


def test_auto_scores_confidence_and_uses_a_learned_rule(tmp_path):
    rule = fit_stop_rule(synthetic_log(60))
    path = tmp_path / "stop.json"
    rule.save(path)
    gen = ScriptedGenerator([Scripted("w w \\boxed{1}", logprob=-0.05)])
    r = run(Auto(16, rule=str(path)), gen)
    assert r.answer == "1" and len(r.candidates) < 16
    assert all(c.score is not None for c in r.candidates)  # confidence scored
    assert gen.requests[0].params.logprobs == 5
    assert [ev for ev in r.trace if ev["event"] == "auto"][0]["rule"] == "learned"


def test_auto_needs_logprobs_for_a_confidence_rule():
    rule = fit_stop_rule(synthetic_log(30))
    no_lp = ScriptedGenerator(["\\boxed{1}"], logprobs=False)
    with pytest.raises(CapabilityError, match="logprobs"):
        run(Auto(16, rule=rule), no_lp)
    r = run(Auto(8), no_lp)  # no rule: confidence is simply off
    assert r.answer == "1" and all(c.score is None for c in r.candidates)
    with pytest.raises(ConfigError, match="confidence"):
        Auto(8, rule=rule, confidence=False)
    with pytest.raises(ConfigError, match="answer_stop"):
        Auto(8, answer_stop="yes")
    with pytest.raises(ConfigError, match="threshold"):
        Auto(8, threshold=2)


def test_answer_stop_ends_samples_at_their_boxed_answer():
    text = "so 3 + 4 = 7 and \\boxed{7} . Let me also check this again at length because why not"
    gen = ScriptedGenerator([text])
    full = run(MajorityVote(2), gen)
    cut = run(Auto(2, batch=2), gen)
    assert full.candidates[0].tokens == len(text.split())
    assert cut.candidates[0].text.endswith("\\boxed{7}") and cut.candidates[0].tokens == 8
    assert cut.answer == full.answer == "7"
    assert gen.requests[-1].answer_stop
    off = run(Auto(2, answer_stop=False), ScriptedGenerator([text]))
    assert off.candidates[0].tokens == len(text.split())


def test_answer_written():
    assert answer_written("so \\boxed{7}") and answer_written("\\boxed{\\frac{1}{2}}")
    assert not answer_written("so \\boxed{\\frac{1}{2}") and not answer_written("\\boxed{}")
    assert not answer_written("the answer is 7")


def test_answer_written_after_a_prefix():
    assert answer_written("so \\boxed{7", 0) is False
    assert answer_written("so \\boxed{7}", len("so \\boxed{7"))  # the prefix opened it, the sample closed it
    assert not answer_written("\\boxed{7} and more", len("\\boxed{7} and"))  # the prefix closed it already
