"""`route` and `ponder fit-route`: probe with the small model, send hard questions to the large one."""

import asyncio
import json
import random

import pytest
from typer.testing import CliRunner

from ponder import ConfigError, Engine, Problem, ScriptedGenerator
from ponder.allocation.route import Route
from ponder.allocation.route_replay import replay_route
from ponder.allocation.route_table import RouteTable, fit_route
from ponder.cli import app
from ponder.types import Candidate
from ponder.voting import tally


def log(params, p_right, count=48, n=8, seed=0):
    """Self-consistency records: even questions easy, odd ones hard; FLOPs as llama.cpp counts them."""
    rng = random.Random(seed)
    recs = []
    for q in range(count):
        p = p_right["easy" if q % 2 == 0 else "hard"]
        cands = []
        for _ in range(n):
            right = rng.random() < p
            cands.append({"answer": "1" if right else str(rng.randint(2, 30)), "correct": right, "tokens": 100,
                          "score": None, "finish_reason": "stop"})
        recs.append({"problem_id": f"p{q}", "seed": 0, "reference": "1", "strategy": "vote", "candidates": cands,
                     "usage": {"prompt_tokens": 50, "completion_tokens": 100 * n,
                               "flops_estimate": 2 * params * (50 + 100 * n)}})
    return recs


SMALL = log(0.5e9, {"easy": 0.95, "hard": 0.1}, n=16, seed=1)
LARGE = log(1.5e9, {"easy": 0.97, "hard": 0.8}, n=8, seed=2)


@pytest.fixture
def table():
    return fit_route([("small", SMALL), ("large", LARGE)], probe=4)


def test_fit_prices_each_arm_per_predicted_difficulty(table):
    assert table.probe_model == "small" and table.models() == ["large"]
    small4 = next(a for a in table.arms if a["model"] == "small" and a["n"] == 4)
    large1 = next(a for a in table.arms if a["model"] == "large" and a["n"] == 1)
    b = next(iter(small4["bins"]))
    # the large arm pays for the probe too: 4 small samples + 1 large one
    assert large1["bins"][b]["flops"] == pytest.approx(2 * 0.5e9 * 450 + 2 * 1.5e9 * 150)
    assert small4["bins"][b]["flops"] == pytest.approx(2 * 0.5e9 * 450)
    assert {a["model"] for a in table.arms} == {"small", "large"}


def test_choice_easy_stays_small_hard_goes_large_and_budget_binds(table):
    easy_bin = table.policy.predict([1.0, 1 / 4, 0.0, 0.0, 4.6])   # the probe agrees
    hard_bin = table.policy.predict([0.25, 1.0, 0.0, 0.0, 4.6])    # the probe scatters
    easy, _ = table.choose(easy_bin, None)
    hard, considered = table.choose(hard_bin, None)
    assert easy["model"] == "small" and hard["model"] == "large"
    cheapest = min(c["flops"] for c in considered)
    tight, considered = table.choose(hard_bin, cheapest)
    assert tight is not None and all(c["fits"] == (c["flops"] <= cheapest) for c in considered)
    none, _ = table.choose(hard_bin, cheapest / 10)
    assert none is None


def test_replay_on_held_out_logs_follows_the_choice_and_prices_it(table):
    small = log(0.5e9, {"easy": 0.95, "hard": 0.1}, n=16, seed=7)  # other questions than the fitting ones
    large = log(1.5e9, {"easy": 0.97, "hard": 0.8}, seed=8)
    rows = replay_route(table, {"small": small, "large": large})

    def majority_right(rec):  # ponder's own vote (ties broken as the strategies break them)
        t = tally([Candidate(text="", answer=c["answer"]) for c in rec["candidates"]], weighted=False)
        return rec["candidates"][t[0].members[0]]["answer"] == "1"

    assert len(rows) == len(small)
    by_id = {r["problem_id"]: r for r in small}
    for row in rows:
        rec = by_id[row["problem_id"]]
        arm, _ = table.choose(row["bin"], None)
        assert (row["model"], row["n"]) == (arm["model"], arm["n"])
        if row["model"] == "small":  # the probe's own samples vote: exact, from the log's first N
            assert row["flops"] == pytest.approx(2 * 0.5e9 * (50 + 100 * row["n"]))
            if row["n"] == table.probe:  # the probe's own votes: exact
                assert row["accuracy"] == float(majority_right({"candidates": rec["candidates"][:row["n"]]}))
            else:  # the probe's samples fixed, the rest drawn from the log's others
                assert 0.0 <= row["accuracy"] <= 1.0
        else:  # the probe's 4 small samples plus the large model's N
            assert row["flops"] == pytest.approx(2 * 0.5e9 * 450 + 2 * 1.5e9 * (50 + 100 * row["n"]))
    # the hard (odd) questions mostly go to the large model, where the small one is hopeless
    hard = [r for r in rows if int(r["problem_id"][1:]) % 2]
    assert sum(r["model"] == "large" for r in hard) > len(hard) / 2
    routed = sum(r["accuracy"] for r in rows) / len(rows)
    small_alone = sum(map(majority_right, small)) / len(small)  # SC@16 of the small model
    assert routed > small_alone + 0.2
    # a budget below every arm keeps each question on its probe's majority, at the probe's price
    cheap = replay_route(table, {"small": small, "large": large}, budget=1.0)
    assert {(r["model"], r["n"]) for r in cheap} == {("small", 4)}
    with pytest.raises(ConfigError, match="probe model small"):
        replay_route(table, {"large": large})


def test_replay_keeps_the_probe_and_draws_the_rest():
    from ponder.allocation.route_replay import probe_then_more as _probe_then_more
    from ponder.voting import PreparedRecord

    def rec(answers):
        return PreparedRecord({"candidates": [{"answer": a, "correct": a == "1"} for a in answers]})

    rng = random.Random(0)
    assert _probe_then_more(rec(["1", "1", "2", "2", "2", "2"]), 2, 3, rng, 64) == 1.0  # two of three always
    assert _probe_then_more(rec(["1", "1", "2", "2", "2", "2"]), 2, 5, rng, 64) == 0.0  # three 2s always
    # two 1s kept, three of [1, 2, 2, 2] drawn: right whenever the 1 is drawn, 3 times in 4
    assert _probe_then_more(rec(["1", "1", "1", "2", "2", "2"]), 2, 5, rng, 2000) == pytest.approx(0.75, abs=0.04)
    assert _probe_then_more(rec(["2", "1", "1", "1"]), 1, 1, rng, 64) == 0.0  # the probe alone: exact


def scripted(p_right_easy, p_right_hard):
    def script(req, i, rng):
        text = req.messages[-1].content if req.messages else req.prompt
        p = p_right_easy if "easy" in text else p_right_hard
        return "so \\boxed{1}" if rng.random() < p else f"so \\boxed{{{rng.randint(2, 30)}}}"
    return ScriptedGenerator(script)


def test_route_runs_the_chosen_arm_and_says_why(table):
    small, large = scripted(0.95, 0.1), scripted(0.97, 0.8)
    strat = Route(16, table=table, arms={"large": large})
    eng = Engine(small, strat, seed=0)
    easy = asyncio.run(eng.asolve(Problem(prompt="an easy one", id="e")))
    calls_after_easy = large.calls
    hard = asyncio.run(eng.asolve(Problem(prompt="a hard one", id="h")))
    ev = {r.problem_id: next(e for e in r.trace if e["event"] == "route") for r in (easy, hard)}
    assert ev["e"]["chosen"]["model"] == "small" and calls_after_easy == 0
    assert ev["h"]["chosen"]["model"] == "large" and large.calls == 1
    assert hard.answer == "1" and easy.answer == "1"
    assert ev["h"]["considered"] and all({"model", "n", "accuracy", "flops", "fits"} <= set(c)
                                         for c in ev["h"]["considered"])
    # the large arm's samples vote; the probe's tokens still count
    n_large = ev["h"]["chosen"]["n"]
    assert len(hard.candidates) == 4 + n_large
    assert hard.usage.completion_tokens == sum(c.tokens for c in hard.candidates)


def test_route_checks_its_arms_and_options(table, tmp_path):
    with pytest.raises(ConfigError, match="table="):
        Engine(scripted(1, 1), Route(8, table=table), seed=0)  # large is not bound
    with pytest.raises(ConfigError, match="flops=-1"):
        Route(8, table=table, flops=-1)
    p = tmp_path / "route.json"
    table.save(p)
    again = RouteTable.load(p)
    assert again.arms == json.loads(json.dumps(table.arms)) and again.policy.probe == 4
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a ponder route table"):
        RouteTable.load(tmp_path / "x.json")


def test_plan_moves_compute_from_easy_to_hard_bins_within_a_mean_budget(table):
    def arm(model, n, easy, hard):  # (accuracy, FLOPs) per bin
        return {"model": model, "n": n, "method": "majority",
                "bins": {"easy": {"accuracy": easy[0], "flops": easy[1], "count": 3},
                         "hard": {"accuracy": hard[0], "flops": hard[1], "count": 1}}}

    t = RouteTable(probe_model="small", probe=1, predictor=table.predictor,
                   arms=[arm("small", 1, (0.9, 1.0), (0.1, 1.0)), arm("small", 4, (0.95, 4.0), (0.2, 4.0)),
                         arm("large", 1, (0.97, 5.0), (0.8, 5.0))],
                   fitted_on={"questions": 4, "predicted_bins": {"easy": 3, "hard": 1}})
    plan, lam = t.plan(2.0)
    # three easy questions at 1 and the hard one at 5: mean 2, accuracy 0.875; no single arm within a
    # mean of 2 does better than 0.7 (small@1 everywhere)
    assert (plan["easy"]["model"], plan["easy"]["n"]) == ("small", 1) and plan["hard"]["model"] == "large"
    assert lam == pytest.approx(0.07 / 4)  # the smallest λ at which the easy bin gives up large@1 for small@1
    plan, _ = t.plan(1e9)  # no real budget: the most accurate arm per bin, as choose() picks it
    assert plan == {b: t.choose(b, None)[0] for b in ("easy", "hard")}
    plan, _ = t.plan(2.0, cap=4.0)  # a per-question cap binds too: the hard bin gets small@4
    assert (plan["hard"]["model"], plan["hard"]["n"]) == ("small", 4)
    plan, _ = t.plan(0.5)  # below every arm: the cheapest everywhere
    assert all(a["n"] == 1 and a["model"] == "small" for a in plan.values())


def test_route_under_a_mean_budget_follows_the_plan_and_says_so(table):
    small, large = scripted(0.95, 0.1), scripted(0.97, 0.8)
    cheapest = min(a["bins"][b]["flops"] for a in table.arms for b in a["bins"])
    eng = Engine(small, Route(16, table=table, mean_flops=cheapest, arms={"large": large}), seed=0)
    hard = asyncio.run(eng.asolve(Problem(prompt="a hard one", id="h")))
    ev = next(e for e in hard.trace if e["event"] == "route")
    assert ev["mean_flops"] == cheapest and ev["accuracy_per_flop"] > 0
    assert ev["chosen"]["model"] == "small" and large.calls == 0  # too tight for the large model
    eng = Engine(small, Route(16, table=table, mean_flops=1e30, arms={"large": large}), seed=0)
    hard = asyncio.run(eng.asolve(Problem(prompt="a hard one", id="h")))
    assert next(e for e in hard.trace if e["event"] == "route")["chosen"]["model"] == "large"
    rows = replay_route(table, {"small": log(0.5e9, {"easy": 0.95, "hard": 0.1}, n=16, seed=7),
                                "large": log(1.5e9, {"easy": 0.97, "hard": 0.8}, seed=8)}, mean_flops=cheapest)
    assert {r["model"] for r in rows} == {"small"}
    with pytest.raises(ConfigError, match="mean_flops=0"):
        Route(8, table=table, mean_flops=0)


def test_fit_route_cli(tmp_path):
    for name, recs in (("small", SMALL), ("large", LARGE)):
        d = tmp_path / name
        d.mkdir()
        (d / "run.json").write_text(json.dumps({"model": name}))
        (d / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = CliRunner().invoke(app, ["fit-route", str(tmp_path / "small"), str(tmp_path / "large"),
                                   "-o", str(tmp_path / "route.json")])
    assert out.exit_code == 0, out.output
    assert RouteTable.load(tmp_path / "route.json").probe_model == "small" and "large" in out.output
    bad = CliRunner().invoke(app, ["fit-route", str(tmp_path / "small"), "--probe-model", "huge",
                                   "-o", str(tmp_path / "r2.json")])
    assert bad.exit_code == 2 and "probe_model='huge'" in bad.output


def test_a_route_recipe_and_solve_load_every_model_the_table_names(table, plugin, tmp_path):
    """Python users get route's other models loaded too, on the recipe's backend (here a plugin's)."""
    from ponder.recipes import parse_recipe

    table.save(tmp_path / "route.json")
    recipe = parse_recipe({"strategy": "route", "backend": "scripted", "n": 8,
                           "options": {"table": str(tmp_path / "route.json")}})
    engine = recipe.engine()
    assert engine.generator.name == "plug:small"  # no model named: the table's probe model
    assert {m: g.name for m, g in engine.strategy.arms.items()} == {"large": "plug:large"}
    [r] = engine.run([Problem("q")])
    assert r.answer == "5" and any(e["event"] == "route" for e in r.trace)
    missing = tmp_path / "nowhere.json"
    with pytest.raises(ConfigError, match="nowhere.json"):  # a recipe's files are read when it is
        parse_recipe({"strategy": "route", "options": {"table": str(missing)}})


def scored_log(count=24, n=8, seed=3):
    """One model whose right answer is a confident minority: majority vote loses, a score-weighted
    vote or best-of-N wins."""
    rng = random.Random(seed)
    recs = []
    for q in range(count):
        cands = []
        for _ in range(n):
            right = rng.random() < 0.35
            cands.append({"answer": "1" if right else "2", "correct": right, "tokens": 100,
                          "score": 0.9 if right else 0.1, "finish_reason": "stop"})
        recs.append({"problem_id": f"p{q}", "seed": 0, "reference": "1", "strategy": "vote", "candidates": cands,
                     "usage": {"prompt_tokens": 50, "completion_tokens": 100 * n,
                               "flops_estimate": 2 * 0.5e9 * (50 + 100 * n)}})
    return recs


def test_scored_logs_give_arms_that_select_by_score_and_route_uses_them_only_with_a_verifier():
    from ponder.verifiers.confidence import ConfidenceVerifier

    table = fit_route([("small", scored_log())], probe=2)
    assert {a["method"] for a in table.arms} == {"majority", "weighted", "naive"}
    assert all(a["method"] == "majority" for a in fit_route([("small", SMALL)], probe=2).arms)  # no scores
    gains = []
    for b in {b for a in table.arms for b in a["bins"]}:
        best, _ = table.choose(b, None)
        plain, considered = table.choose(b, None, ("majority",))
        assert plain["method"] == "majority" and {c["method"] for c in considered} == {"majority"}
        gains.append((best["bins"][b]["accuracy"] - plain["bins"][b]["accuracy"], best["method"]))
    gain, method = max(gains)
    assert gain > 0.3 and method != "majority"
    rows = replay_route(table, {"small": scored_log(seed=9)})
    assert all(r["method"] == table.choose(r["bin"], None)[0]["method"] for r in rows)
    plain_rows = replay_route(table, {"small": scored_log(seed=9)}, methods=("majority",))
    assert sum(r["accuracy"] for r in rows) > sum(r["accuracy"] for r in plain_rows) + 0.3 * len(rows)
    gen = ScriptedGenerator(lambda req, i, rng: "so \\boxed{1}" if rng.random() < 0.5 else "so \\boxed{2}")
    with_scores = Engine(gen, Route(8, table=table), ConfidenceVerifier(), seed=0).run([Problem("q")])[0]
    without = Engine(gen, Route(8, table=table), seed=0).run([Problem("q")])[0]
    scored, plain = (next(e for e in r.trace if e["event"] == "route") for r in (with_scores, without))
    assert scored["chosen"]["method"] == table.choose(scored["bin"], None)[0]["method"]
    assert plain["chosen"]["method"] == "majority"
    assert all(c.score is not None for c in with_scores.candidates)


# every question is hard for the small model: a harder batch than the fitting mix (half easy)
HARD_SMALL = log(0.5e9, {"easy": 0.1, "hard": 0.1}, n=16, seed=7)
HARD_LARGE = log(1.5e9, {"easy": 0.8, "hard": 0.8}, seed=8)


def test_a_flop_pool_holds_a_batch_budget_that_a_mean_plan_overshoots_on_a_harder_batch(table):
    runs, mean = {"small": HARD_SMALL, "large": HARD_LARGE}, 1e12
    planned = replay_route(table, runs, mean_flops=mean)
    pooled = replay_route(table, runs, total_flops=mean * len(HARD_SMALL))
    assert len(planned) == len(pooled) == len(HARD_SMALL)
    assert sum(r["flops"] for r in planned) > 1.2 * mean * len(planned)  # planned for half easy questions
    assert sum(r["flops"] for r in pooled) <= mean * len(pooled) * (1 + 1e-9)
    # what is left is spread over the rest of the batch, not taken by its first questions
    late = pooled[len(pooled) // 2:]
    assert sum(r["model"] == "large" for r in late) > len(late) / 2
    probe_only = replay_route(table, runs, budget=1.0)  # every question stays with its probe
    assert sum(r["accuracy"] for r in pooled) > sum(r["accuracy"] for r in probe_only) + 0.3 * len(pooled)
    assert any(r["pool_bound"] is not None for r in pooled) and "pool_bound" not in planned[0]


def test_route_with_a_flop_pool_stays_within_it_over_a_concurrent_batch(table):
    from ponder.allocation.pools import FlopPool

    def gen(p_right, parameters):  # samples as long as the fitting log's, FLOPs as llama.cpp counts them
        def script(req, i, rng):
            answer = 1 if rng.random() < p_right else rng.randint(2, 30)
            return " ".join(["step"] * 97) + f" so \\boxed{{{answer}}}"
        return ScriptedGenerator(script, parameters=parameters)

    problems = [Problem(prompt=f"a hard one, number {i}", id=f"h{i}") for i in range(8)]
    budget = 1e12 * len(problems)

    def run(**kw):
        small, large = gen(0.1, 0.5e9), gen(0.8, 1.5e9)
        rs = Engine(small, Route(16, table=table, arms={"large": large}, **kw), seed=0, concurrency=4).run(problems)
        return rs, sum(r.usage.flops_estimate for r in rs)

    _, unpooled = run(mean_flops=1e12)
    assert unpooled > 1.2 * budget  # the plan alone: right for the fitting mix, over for this batch
    pool = FlopPool(budget, len(problems))
    results, spent = run(pool=pool)
    assert spent <= budget and pool.left == pytest.approx(budget - spent)  # every hold settled
    events = [next(e for e in r.trace if e["event"] == "route") for r in results]
    assert all({"pool_spare", "pool_bound", "mean_flops"} <= set(e) for e in events)
    assert sum(e["chosen"] is not None and e["chosen"]["model"] == "large" for e in events) >= len(problems) / 2
    with pytest.raises(ConfigError, match="total_flops=0"):
        FlopPool(0, 3)
    with pytest.raises(ConfigError, match="pool=5"):
        Route(8, table=table, pool=5)


def test_eval_cli_shares_total_flops_over_route_questions(table, plugin, tmp_path):
    table.save(tmp_path / "route.json")
    data = tmp_path / "q.jsonl"
    data.write_text("".join(json.dumps({"question": f"q{i}", "answer": "5"}) + "\n" for i in range(4)))
    base = ["eval", "-d", str(data), "--backend", "scripted", "-o", str(tmp_path / "run")]
    out = CliRunner().invoke(app, [*base, "-s", "route", "--option", f"table={tmp_path / 'route.json'}",
                                   "--total-flops", "4e12"])
    assert out.exit_code == 0, out.output
    assert json.loads((tmp_path / "run" / "run.json").read_text())["search"]["total_flops"] == 4e12
    assert "of 4e+12 FLOPs spent" in out.output
    recs = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert len(recs) == 4 and all(r["correct"] for r in recs)
    bad = CliRunner().invoke(app, [*base[:-2], "-o", str(tmp_path / "v"), "--total-flops", "1e12"])
    assert bad.exit_code == 2 and "total_flops=1000000000000.0" in bad.output and "route" in bad.output


def test_the_server_routes_with_the_models_the_operator_loaded(table, tmp_path):
    import httpx

    from ponder.server.app import ServerConfig, create_app
    from ponder.testing import AppServer

    table.save(tmp_path / "route.json")
    cfg = ServerConfig(model_name="tiny", strategy="route", n=16, options={"table": str(tmp_path / "route.json")})
    with pytest.raises(ConfigError, match="arms=\\['large'\\]"):  # the other model is never loaded per request
        create_app(scripted(0.95, 0.1), cfg)
    large = scripted(0.97, 0.8)
    s = AppServer(create_app(scripted(0.95, 0.1), cfg, arms={"large": large}))
    try:
        with httpx.Client(base_url=s.url, timeout=30) as c:
            def ask(text, **ponder):
                body = {"model": "tiny", "messages": [{"role": "user", "content": text}],
                        "ponder": {"return_trace": True, **ponder}}
                r = c.post("/v1/chat/completions", json=body)
                return r.status_code, r.json()

            status, body = ask("a hard one")
            assert status == 200, body
            ev = next(e for e in body["ponder"]["trace"] if e["event"] == "route")
            assert ev["chosen"]["model"] == "large" and large.calls == 1
            assert body["choices"][0]["message"]["content"].endswith("\\boxed{1}")
            status, body = ask("a hard one", options={"flops": 1.0})  # a request may tighten the budget
            ev = next(e for e in body["ponder"]["trace"] if e["event"] == "route")
            assert status == 200 and ev["budget_flops"] == 1.0 and ev["chosen"] is None and large.calls == 1
            status, body = ask("a hard one", options={"table": "/etc/passwd"})  # but never name a file
            assert status == 400 and body["error"]["param"] == "ponder.options.table"
    finally:
        s.stop()


def test_serve_loads_the_tables_models_at_start_up(table, plugin, tmp_path, monkeypatch):
    from ponder.cli import serve

    table.save(tmp_path / "route.json")
    apps = []
    monkeypatch.setattr(serve, "run_server", lambda app_, **kw: apps.append(app_))
    out = CliRunner().invoke(app, ["serve", "--backend", "scripted", "--strategy", "route", "--n", "16",
                                   "--option", f"table={tmp_path / 'route.json'}"])
    assert out.exit_code == 0, out.output
    svc = apps[0].state.ponder
    assert svc.base.name == "plug:small"  # no --model: the table's probe model
    assert {m: g.inner.name for m, g in svc.arms.items()} == {"large": "plug:large"}  # batched like the model
