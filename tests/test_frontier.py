"""The compute-optimal frontier across runs, from synthetic logs of a small and a large model."""

import json
import random

import pytest
from typer.testing import CliRunner

from ponder.cli import app
from ponder.errors import ConfigError
from ponder.eval.frontier import (
    budgets,
    frontier,
    held_back_levels,
    name,
    optimal_table,
    pass_rate_level,
    points_by_level,
    run_points,
)
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


def test_pass_rate_levels_run_from_1_easiest_to_5_none_right():
    assert [pass_rate_level(k, 4) for k in (4, 3, 2, 1, 0)] == [1, 2, 3, 4, 5]
    assert [pass_rate_level(k, 8) for k in (8, 7, 6, 5, 4, 3, 2, 1, 0)] == [1, 1, 2, 2, 3, 3, 4, 4, 5]


def test_held_back_samples_set_the_level_and_are_not_scored():
    """A set without levels: the small run's last 4 samples bin each question; its first 4 are all
    that its curves may use, and the other run keeps every sample, binned the same way."""
    small = [{**r, "level": None} for r in model_log(0.5e9, {1: 0.7, 2: 0.2}, count=40, n=8, seed=1)]
    large = [{**r, "level": None} for r in model_log(1.5e9, {1: 0.9, 2: 0.6}, count=40, n=4, seed=2)]
    binned = dict(held_back_levels([("small", small), ("large", large)], "small", 4))
    for r, b in zip(small, binned["small"]):
        right = sum(c["correct"] for c in r["candidates"][4:])
        assert b["level"] == pass_rate_level(right, 4) and b["candidates"] == r["candidates"][:4]
        assert b["usage"]["wall_s"] == pytest.approx(r["usage"]["wall_s"] / 2)
    assert [b["level"] for b in binned["large"]] == [b["level"] for b in binned["small"]]
    assert all(len(b["candidates"]) == 4 for b in binned["large"])
    by_level = points_by_level(list(binned.items()))
    assert max(p["n"] for p in by_level["all"] if p["run"] == "small") == 4
    assert {k for k in by_level if k != "all"} == {b["level"] for b in binned["small"]}
    with pytest.raises(ConfigError, match="held_back=8"):
        held_back_levels([("small", small)], "small", 8)  # nothing would be left to score
    with pytest.raises(ConfigError, match="difficulty='big'"):
        held_back_levels([("small", small)], "big", 2)


def test_report_bins_by_held_back_samples_from_the_command_line(tmp_path):
    for label, recs in (SMALL, LARGE):
        d = tmp_path / label
        d.mkdir()
        (d / "log.jsonl").write_text("".join(json.dumps({**r, "level": None}) + "\n" for r in recs))
    runner = CliRunner()
    out = runner.invoke(app, ["report", str(tmp_path / "small"), str(tmp_path / "large"),
                              "--difficulty", str(tmp_path / "small"), "-o", str(tmp_path / "rep")])
    assert out.exit_code == 0, out.output
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "Levels are difficulty from small's last 2 samples" in md  # a quarter of its 8
    assert "| FLOPs budget | level 1 |" in md and (tmp_path / "rep" / "levels.png").exists()
    bad = runner.invoke(app, ["report", str(tmp_path / "small"), "--difficulty", str(tmp_path / "large")])
    assert bad.exit_code == 2 and "must be one of the run directories given" in bad.output
    bad = runner.invoke(app, ["report", str(tmp_path / "small"), "--held-back", "2"])
    assert bad.exit_code == 2 and "held_back=2: needs --difficulty RUN" in bad.output
