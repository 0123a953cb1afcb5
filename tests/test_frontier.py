"""The compute-optimal frontier across runs, from synthetic logs of a small and a large model."""

import json
import random

import pytest
from typer.testing import CliRunner

from ponder.cli import app
from ponder.errors import ConfigError
from ponder.eval.frontier import budgets, frontier, name, optimal_table, points_by_level, run_points
from ponder.eval.report import write_report


def model_log(params, p_right, count=40, n=8, seed=0, strategy="vote"):
    """Records of a model whose samples are right with probability p_right[level]; FLOPs = 2 ×
    params × (prompt + generated tokens), as llama.cpp's usage reports them."""
    rng = random.Random(seed)
    recs = []
    for q in range(count):
        level = q % 2 + 1
        cands = []
        for _ in range(n):
            right = rng.random() < p_right[level]
            cands.append({"answer": "1" if right else str(rng.randint(2, 9)), "correct": right,
                          "tokens": 100, "score": 1.0 if right else 0.5, "finish_reason": "stop"})
        gen = 100 * n
        recs.append({"problem_id": f"p{q}", "seed": 0, "level": level, "strategy": strategy, "reference": "1",
                     "correct": None, "candidates": cands,
                     "usage": {"prompt_tokens": 50, "completion_tokens": gen, "wall_s": 0.01 * gen,
                               "flops_estimate": 2 * params * (50 + gen)}})
    return recs


SMALL = ("small", model_log(0.5e9, {1: 0.7, 2: 0.2}, seed=1))
LARGE = ("large", model_log(1.5e9, {1: 0.9, 2: 0.6}, seed=2, n=4))


def test_points_read_flops_at_n_off_the_log():
    pts = run_points(*SMALL)
    maj = {p["n"]: p for p in pts if p["method"] == "majority"}
    assert sorted(maj) == [1, 2, 4, 8]
    assert maj[1]["flops"] == pytest.approx(2 * 0.5e9 * (50 + 100))  # one sample: the prompt once + 100 tokens
    assert maj[8]["flops"] == pytest.approx(2 * 0.5e9 * (50 + 800))
    assert maj[8]["tokens"] == 800 and {p["method"] for p in pts} == {"majority", "weighted", "naive"}


def test_a_run_that_is_not_iid_is_one_point():
    recs = model_log(0.5e9, {1: 0.7, 2: 0.2}, strategy="auto")
    for r in recs:
        r["correct"] = r["candidates"][0]["correct"]
    [p] = run_points("auto-run", recs)
    assert p["n"] is None and p["method"] == "auto" and name(p) == "auto-run"
    assert p["flops"] == pytest.approx(2 * 0.5e9 * 850)


def test_frontier_is_the_upper_envelope():
    pts = points_by_level([SMALL, LARGE])["all"]
    env = frontier(pts)
    assert [p["flops"] for p in env] == sorted(p["flops"] for p in env)
    assert all(b["accuracy"] > a["accuracy"] for a, b in zip(env, env[1:]))
    for p in pts:  # every point is matched or beaten by a frontier point that costs no more
        cover = [q["accuracy"] for q in env if q["flops"] <= p["flops"] * (1 + 1e-9)]
        assert cover and max(cover) >= p["accuracy"] - 1e-9
    assert len(env) < len(pts)
    with pytest.raises(ConfigError, match="x='joules'"):
        frontier(pts, "joules")


def test_per_level_table_picks_the_best_within_each_budget():
    by_level = points_by_level([SMALL, LARGE])
    assert set(by_level) == {"all", 1, 2}
    grid = budgets(by_level["all"])
    rows = optimal_table(by_level, grid=grid)
    assert [r["budget"] for r in rows] == grid and len(grid) == 6
    cheapest = min(p["flops"] for p in by_level["all"])
    assert rows[0][1]["flops"] == pytest.approx(cheapest)  # only the cheapest point fits the smallest budget
    for r in rows:
        for lvl in (1, 2, "all"):
            within = [p for p in by_level[lvl] if p["flops"] <= r["budget"] * (1 + 1e-9)]
            assert r[lvl]["accuracy"] == max(p["accuracy"] for p in within)
    # on the hard level the large model wins at the top budget
    assert rows[-1][2]["run"] == "large"


def test_report_and_plot_draw_the_frontier(tmp_path):
    paths = write_report([SMALL, LARGE], tmp_path / "rep")
    md = paths["md"].read_text()
    assert paths["frontier"].stat().st_size > 10_000
    assert "## Compute-optimal frontier" in md and "level 2" in md and "large · " in md
    for label, recs in (SMALL, LARGE):
        d = tmp_path / label
        d.mkdir()
        (d / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    runner = CliRunner()
    out = runner.invoke(app, ["plot", str(tmp_path / "small"), str(tmp_path / "large"), "--frontier",
                              "-o", str(tmp_path / "f.png"), "--x", "tokens"])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "f.png").stat().st_size > 10_000
    bad = runner.invoke(app, ["plot", str(tmp_path / "small"), "--frontier", "--x", "joules"])
    assert bad.exit_code == 2 and "x='joules'" in bad.output
