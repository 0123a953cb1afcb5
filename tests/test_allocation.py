"""Difficulty prediction, policy fitting and allocation under a shared token budget."""

import asyncio

import pytest

from ponder import ConfigError, Engine, Problem, ScriptedGenerator
from ponder.allocation.policy import Policy, difficulty_bin, fit_policy, probe_features
from ponder.allocation.pools import TokenPool
from ponder.allocation.strategy import PolicyStrategy
from ponder.types import Candidate


def rec(pid, answers, ref="1"):
    return {"problem_id": pid, "seed": 0, "reference": ref, "question": pid,
            "candidates": [{"answer": a, "correct": a == ref, "tokens": 50, "score": None} for a in answers]}


def synthetic_log():
    recs = []
    for i in range(6):  # easy: unanimous and right
        recs.append(rec(f"e{i}", ["1"] * 16))
    for i in range(6):  # medium: right answer is a plurality, probes disagree
        recs.append(rec(f"m{i}", (["1", "2", "1", "3"] * 4)))
    for i in range(6):  # hopeless: scattered and never right
        recs.append(rec(f"h{i}", [str(10 + j) for j in range(16)]))
    return recs


def test_bins_and_features():
    assert [difficulty_bin(x) for x in (0, 0.1, 0.5, 0.9)] == ["hopeless", "hard", "medium", "easy"]
    f = probe_features([Candidate("", a, tokens=10) for a in ("1", "1", "2", None)])
    assert f[:3] == [0.5, 0.5, 0.25]


def test_fit_policy_spends_where_it_pays(tmp_path):
    pol = fit_policy(synthetic_log(), probe=4)
    assert set(pol.bins) == {"easy", "medium", "hopeless"}
    assert pol.n_for("easy") == 4 and pol.n_for("hopeless") == 4  # stop at the probe
    curve = pol.bins["medium"]["curve"]  # majority accuracy grows with N on these questions
    assert curve[0]["n"] == 4 and curve[-1]["accuracy"] == 1.0 > curve[0]["accuracy"]
    assert pol.n_for("medium") > 4 and pol.bins["medium"]["accuracy"] >= 1.0 - 0.02
    assert pol.predict(probe_features([Candidate("", "1", tokens=50)] * 4)) == "easy"
    assert pol.predict(probe_features([Candidate("", str(i), tokens=50) for i in range(4)])) == "hopeless"
    pol.save(tmp_path / "p.json")
    assert Policy.load(tmp_path / "p.json").to_dict() == pol.to_dict()
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ConfigError, match="policy"):
        Policy.load(tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="at least 4"):
        fit_policy(synthetic_log()[:2])


def manual_policy(n_medium=12):
    pol = fit_policy(synthetic_log(), probe=4)
    pol.bins["medium"]["n"] = n_medium
    return pol


def scattered(req, i, rng):
    return f"w w \\boxed{{{['1', '2', '1', '3'][i % 4]}}}"


def test_policy_strategy_gives_more_samples_to_uncertain_questions():
    pol = manual_policy()
    easy = asyncio.run(Engine(ScriptedGenerator(["w w \\boxed{1}"]), PolicyStrategy(pol)).asolve(Problem(prompt="e")))
    mid = asyncio.run(Engine(ScriptedGenerator(scattered), PolicyStrategy(pol)).asolve(Problem(prompt="m")))
    assert len(easy.candidates) == 4 and len(mid.candidates) == 12
    ev = next(e for e in mid.trace if e["event"] == "allocate")
    assert ev["bin"] == "medium" and ev["wanted"] == 8 and ev["granted"] == 8


def test_a_shared_pool_caps_the_whole_run_and_keeps_probes_for_the_rest():
    pol = manual_policy(n_medium=16)
    pool = TokenPool(total=5 * 4 * 3 + 6, questions=5)  # room for every probe and two extra samples
    eng = Engine(ScriptedGenerator(scattered), PolicyStrategy(pol, pool=pool), concurrency=1)
    results = eng.run([Problem(prompt=f"q{i}", id=str(i)) for i in range(5)])
    total = sum(r.usage.completion_tokens for r in results)
    assert total <= pool.total
    assert all(len(r.candidates) >= 4 for r in results)  # every question got its probe
    assert sum(len(r.candidates) for r in results) == 5 * 4 + 2


def test_a_shared_pool_is_not_overspent_by_concurrent_questions():
    """Five questions probe at once and then all ask for extra samples: the pool must reserve, not
    check-then-spend (this overspent a pool of 150 by 90 tokens)."""
    pol = manual_policy(n_medium=16)
    pool = TokenPool(total=150, questions=5)
    eng = Engine(ScriptedGenerator(scattered), PolicyStrategy(pol, pool=pool), concurrency=5)
    results = eng.run([Problem(prompt=f"q{i}", id=str(i)) for i in range(5)])
    total = sum(r.usage.completion_tokens for r in results)
    assert total <= 150 and pool.left == 150 - total
    assert all(len(r.candidates) >= 4 for r in results)
    assert sum(len(r.candidates) for r in results) > 5 * 4  # the spare tokens were still used


def revise_log(pids, correct, tokens=120):
    return [{"problem_id": p, "seed": 0, "reference": "1", "correct": correct, "candidates":
             [{"answer": "1" if correct else "2", "tokens": tokens // 6}] * 6} for p in pids]


def test_a_bin_takes_revisions_when_they_reach_its_best_accuracy_for_fewer_tokens():
    log = synthetic_log()
    chains2 = {"strategy": "revise", "n": 6, "options": {"chains": 2}}
    medium = [r["problem_id"] for r in log if r["problem_id"].startswith("m")]
    pol = fit_policy(log, probe=4, mixes=[(chains2, revise_log(medium, True))])
    assert pol.action_for("medium") == chains2 and pol.n_for("medium") == 6  # 120 tokens beat more votes
    assert pol.action_for("easy") is None and pol.n_for("easy") == 4  # not covered: votes as before
    assert pol.bins["medium"]["mixes"][0]["covered"] == 6
    worse = fit_policy(log, probe=4, mixes=[(chains2, revise_log(medium, False))])
    assert worse.action_for("medium") is None  # wrong revisions lose to votes
    with pytest.raises(ConfigError, match="mix"):
        fit_policy(log, probe=4, mixes=[({"strategy": "vote", "n": 8, "options": {}}, [])])


def test_the_policy_strategy_runs_the_mix_from_its_probe():
    pol = fit_policy(synthetic_log(), probe=4, mixes=[({"strategy": "revise", "n": 6, "options": {"chains": 2}},
                                                       revise_log([f"m{i}" for i in range(6)], True))])
    gen = ScriptedGenerator(scattered)
    res = asyncio.run(Engine(gen, PolicyStrategy(pol)).asolve(Problem(prompt="m")))
    assert res.strategy == "policy" and len(res.candidates) == 6
    assert [e["round"] for e in res.trace if e["event"] == "revise"] == [1]  # the probe was round 0
    assert [r.n for r in gen.requests] == [4, 1, 1]  # probe, then both chains revised in one call
    assert sum(m.role == "assistant" for m in gen.requests[1].messages) == 1
    assert next(e for e in res.trace if e["event"] == "mix")["options"] == {"chains": 2}


def test_fit_policy_cli_reads_the_mix_from_a_revise_run(tmp_path):
    import json

    from typer.testing import CliRunner

    from ponder.cli import app

    def run_dir(name, config, recs):
        d = tmp_path / name
        d.mkdir()
        (d / "run.json").write_text(json.dumps(config))
        (d / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
        return str(d)

    vote = run_dir("vote", {"strategy": "vote", "n": 16}, synthetic_log())
    mix = run_dir("revise", {"strategy": "revise", "n": 6, "search": {"chains": 2}},
                  revise_log([f"m{i}" for i in range(6)], True))
    out = CliRunner().invoke(app, ["fit-policy", vote, "--mix", mix, "-o", str(tmp_path / "p.json")])
    assert out.exit_code == 0, out.output
    assert "revise" in out.stdout
    assert Policy.load(tmp_path / "p.json").action_for("medium") == {"strategy": "revise", "n": 6,
                                                                      "options": {"chains": 2}}
