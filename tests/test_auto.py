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


def scattered_log(count=12):
    """Self-consistency records of easy questions (unanimous, right) and hopeless ones (every sample
    a different wrong answer): the policy fitted on them stops hopeless questions at the probe."""
    recs = []
    for q in range(count):
        answers = ["1"] * 16 if q % 2 else [str(10 + j) for j in range(16)]
        recs.append({"problem_id": f"p{q}", "seed": 0, "reference": "1", "candidates": [
            {"answer": a, "correct": a == "1", "tokens": 50, "score": None} for a in answers]})
    return recs


def test_auto_with_a_policy_caps_a_hopeless_question_at_its_predicted_budget(tmp_path):
    from ponder.allocation.policy import fit_policy

    pol = fit_policy(scattered_log(), probe=2)
    assert pol.n_for("hopeless") == 2 and not pol.uses_scores
    pol.save(tmp_path / "policy.json")
    hopeless = ScriptedGenerator([f"w w \\boxed{{{i}}}" for i in range(20, 40)])
    alone = run(Auto(16), hopeless)
    capped = run(make_strategy("auto", 16, policy=str(tmp_path / "policy.json")), hopeless)
    assert len(alone.candidates) == 16 and len(capped.candidates) == 2  # never agrees: the policy stops it
    ev = next(e for e in capped.trace if e["event"] == "allocate")
    assert ev["bin"] == "hopeless" and ev["cap"] == 2 and ev["probe"] == 2
    easy = ScriptedGenerator(["w w \\boxed{7}"])
    assert len(run(Auto(16), easy).candidates) == 4  # the Beta rule alone wants 4 agreeing samples ...
    sure = run(Auto(16, policy=pol), easy)
    assert sure.answer == "7" and len(sure.candidates) == 2  # ... the log says 2 are as good as 16 here
    with pytest.raises(ConfigError, match="policy"):
        Auto(8, policy=tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="policy"):
        Auto(8, policy={"probe": 2})


def test_auto_refuses_to_run_a_confidence_policy_without_confidence():
    from ponder.allocation.policy import fit_policy

    pol = fit_policy(synthetic_log(30), probe=2)
    assert pol.uses_scores
    with pytest.raises(ConfigError, match="confidence"):
        Auto(8, policy=pol, confidence=False)
    with pytest.raises(CapabilityError, match="this policy"):
        run(Auto(8, policy=pol), ScriptedGenerator(["\\boxed{1}"], logprobs=False))


def test_auto_under_a_token_pool_never_spends_past_it_and_every_question_gets_its_first_round():
    from ponder.allocation.pools import TokenPool

    hard = [f"w w \\boxed{{{i}}}" for i in range(8)]  # 3 tokens a sample; never settles
    for concurrency in (1, 4):
        pool = TokenPool(total=4 * 2 * 3 + 12, questions=4)  # every first round and 4 more samples
        eng = Engine(ScriptedGenerator(hard), Auto(16, pool=pool), concurrency=concurrency)
        results = eng.run([Problem(prompt=f"q{i}", id=str(i)) for i in range(4)])
        spent = sum(r.usage.completion_tokens for r in results)
        assert spent <= pool.total and pool.left == pool.total - spent
        assert all(len(r.candidates) >= 2 for r in results)
        assert sum(len(r.candidates) for r in results) == 4 * 2 + 4  # the spare went to more samples
        assert pool.unprobed == 0
        assert any(e["event"] == "budget" and e["bound"] == "pool" for r in results for e in r.trace)
    with pytest.raises(ConfigError, match="pool"):
        Auto(8, pool=1000)


def test_eval_cli_runs_auto_with_a_policy_or_within_a_run_budget(plugin, tmp_path):
    from typer.testing import CliRunner

    from ponder.allocation.policy import fit_policy
    from ponder.cli import app

    fit_policy(scattered_log(), probe=2).save(tmp_path / "policy.json")
    data = tmp_path / "q.jsonl"
    data.write_text("".join(json.dumps({"question": f"q{i}", "answer": "5"}) + "\n" for i in range(4)))

    out_text = []

    def ev(name, *extra):
        args = ["eval", "-d", str(data), "-s", "auto", "-n", "16", "--backend", "scripted", "-m", "m",
                "-o", str(tmp_path / name), *extra]
        out = CliRunner().invoke(app, args)
        assert out.exit_code == 0, out.output
        out_text.append(out.output)
        cfg = json.loads((tmp_path / name / "run.json").read_text())
        recs = [json.loads(line) for line in (tmp_path / name / "log.jsonl").read_text().splitlines()]
        assert len(recs) == 4 and all(r["correct"] for r in recs)
        return cfg, [len(r["candidates"]) for r in recs], sum(r["usage"]["completion_tokens"] for r in recs)

    _, free, spent = ev("free")
    assert free == [4, 4, 4, 4]  # the Beta rule wants 4 agreeing samples
    cfg, capped, _ = ev("policy", "--policy", str(tmp_path / "policy.json"))
    assert capped == [2, 2, 2, 2] and cfg["search"]["policy"].endswith("policy.json")  # the log says 2 do
    per = spent // 16
    cfg, pooled, tokens = ev("pool", "--total-tokens", str(10 * per))  # every first round and 2 more samples
    assert cfg["search"]["total_tokens"] == 10 * per
    assert f"run budget: {tokens} of {10 * per} generated tokens spent" in out_text[-1]
    assert tokens <= 10 * per and sum(pooled) == 10 and min(pooled) == 2
    # killed after two questions and resumed: the budget is the run's, not each invocation's
    (tmp_path / "resumed").mkdir()
    for name in ("run.json", "log.jsonl"):
        lines = (tmp_path / "pool" / name).read_text().splitlines(keepends=True)
        (tmp_path / "resumed" / name).write_text("".join(lines if name == "run.json" else lines[:2]))
    _, resumed, tokens = ev("resumed", "--total-tokens", str(10 * per))
    assert tokens <= 10 * per and resumed[:2] == pooled[:2], resumed
    assert "acc_new 100.0%" in out_text[-1] and "acc 100.0%" in out_text[0]  # a resumed rate says so
    bad = CliRunner().invoke(app, ["eval", "-d", str(data), "--backend", "scripted", "-m", "m",
                                   "--total-tokens", "20"])
    assert bad.exit_code == 2 and "total_tokens=20" in bad.output and "auto or policy" in bad.output


def test_fit_policy_cli_pools_several_logs(tmp_path):
    from typer.testing import CliRunner

    from ponder.allocation.policy import Policy
    from ponder.cli import app

    runs = []
    for name, recs in (("a", scattered_log(8)), ("b", scattered_log(6))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.json").write_text(json.dumps({"strategy": "vote", "n": 16}))
        (tmp_path / name / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
        runs.append(str(tmp_path / name))
    out = CliRunner().invoke(app, ["fit-policy", *runs, "--probe", "2", "-o", str(tmp_path / "p.json")])
    assert out.exit_code == 0, out.output
    assert Policy.load(tmp_path / "p.json").fitted_on["records"] == 14


def test_fitters_refuse_logs_that_are_not_independent_samples():
    from ponder.allocation.policy import fit_policy
    from ponder.allocation.route_table import fit_route

    beam = [{**r, "strategy": "beam"} for r in synthetic_log(30)]
    for fit in (lambda: fit_stop_rule(beam), lambda: fit_policy(beam), lambda: fit_route([("m", beam)])):
        with pytest.raises(ConfigError, match="log='beam'.*independent samples"):
            fit()


def test_auto_asks_for_logprobs_only_when_something_reads_the_scores():
    """Top-5 logprobs slow some servers several times over (llama-cpp-python's): the Beta rule does
    not read scores, so auto does not ask for them unless told to."""
    plain = ScriptedGenerator([Scripted("w w \\boxed{1}", logprob=-0.05)])
    r = run(Auto(8), plain)
    assert not plain.requests[0].params.logprobs and all(c.score is None for c in r.candidates)
    asked = ScriptedGenerator([Scripted("w w \\boxed{1}", logprob=-0.05)])
    r = run(Auto(8, confidence=True), asked)
    assert asked.requests[0].params.logprobs == 5 and all(c.score is not None for c in r.candidates)
    assert next(e for e in r.trace if e["event"] == "auto")["confidence"]


class _Overlap(ScriptedGenerator):
    """A scripted generator that records how many calls were in flight at once."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.now = self.most = 0

    async def generate(self, requests, **kw):
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            return await super().generate(requests, **kw)
        finally:
            self.now -= 1


def test_lookahead_runs_rounds_ahead_of_the_rule_without_changing_the_answer():
    scattered = [f"a b \\boxed{{{i}}}" for i in range(8)]  # never settles: all 16 samples
    plain, gen = run(Auto(16), _Overlap(scattered, delay_s=0.01)), _Overlap(scattered, delay_s=0.01)
    ahead = run(Auto(16, lookahead=2), gen)
    assert [c.text for c in ahead.candidates] == [c.text for c in plain.candidates] and len(plain.candidates) == 16
    assert gen.most == 3  # the next round and up to two more in flight once the first did not settle it
    assert ahead.usage.completion_tokens == plain.usage.completion_tokens  # nothing ran past the cap
    rounds = [e for e in ahead.trace if e["event"] == "round"]
    assert [r["round"] for r in rounds] == list(range(1, 9)) and [r["samples"] for r in rounds] == list(range(2, 17, 2))
    # settles after 4 samples: the round launched beside the deciding one is dropped, and counted
    late = [Scripted("a b c d e f \\boxed{1}")] * 4 + [Scripted(f"a b c d e f \\boxed{{{i}}}") for i in (2, 3, 4)]
    plain, ahead = run(Auto(16), ScriptedGenerator(late)), run(Auto(16, lookahead=1), ScriptedGenerator(late))
    assert len(plain.candidates) == 4 and ahead.answer == plain.answer
    assert [c.text for c in ahead.candidates] == [c.text for c in plain.candidates]
    [drop] = [e for e in ahead.trace if e["event"] == "lookahead"]
    assert drop["dropped_rounds"] == 1 and drop["dropped_samples"] == 2
    assert ahead.usage.completion_tokens == plain.usage.completion_tokens + drop["dropped_tokens"] > 0


def test_lookahead_spends_nothing_ahead_on_an_easy_question():
    easy = ["w w \\boxed{7}"]
    plain, gen = run(Auto(16, batch=4), ScriptedGenerator(easy)), _Overlap(easy)
    ahead = run(Auto(16, batch=4, lookahead=4), gen)  # four agreeing samples settle it in one round
    assert ahead.usage.completion_tokens == plain.usage.completion_tokens and gen.most == 1
    assert not [e for e in ahead.trace if e["event"] == "lookahead"]


def test_lookahead_is_checked():
    from ponder.allocation.pools import TokenPool

    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ConfigError, match="lookahead"):
            Auto(8, lookahead=bad)
    with pytest.raises(ConfigError, match="lookahead.*run budget"):
        Auto(8, lookahead=1, pool=TokenPool(100, 2))
    assert make_strategy("auto", 8, lookahead=2).lookahead == 2
