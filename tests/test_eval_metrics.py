"""Metrics against hand-computed values on small synthetic logs."""

import pytest

from ponder.eval.metrics import bootstrap_ci, by_level, curve, n_grid, paired_bootstrap, ranking, summary


def cand(answer, correct, score=None, tokens=10):
    return {"text": f"... {answer}", "answer": answer, "correct": correct, "score": score, "tokens": tokens}


def rec(pid, cands, seed=0, level=None, correct=None, answer=None, wall=4.0):
    return {"problem_id": pid, "seed": seed, "level": level, "candidates": cands, "correct": correct,
            "answer": answer, "usage": {"completion_tokens": sum(c["tokens"] for c in cands), "wall_s": wall}}


A = rec("a", [cand("1", True, 0.1), cand("1", True, 0.2), cand("2", False, 0.9), cand(None, False, 0.5)],
        correct=True, answer="1")
B = rec("b", [cand(None, False, 0.3)] * 4, correct=False)


def acc(rows, method, n):
    return next(r["accuracy"] for r in rows if r["method"] == method and r["n"] == n)


def test_hand_computed_accuracies():
    rows = curve([A], subsamples=100)
    assert acc(rows, "majority", 4) == 1.0           # 1 has two votes
    assert acc(rows, "majority", 1) == 0.5           # singletons: T, T, F, no answer
    # pairs: (0,1) 1 wins; (0,2),(1,2) tie, broken by the smaller key -> 1 (scores do not count in a
    # plain majority); (0,3),(1,3) 1; (2,3) 2
    assert acc(rows, "majority", 2) == pytest.approx(5 / 6)
    assert acc(rows, "oracle", 1) == pytest.approx(0.5)
    assert acc(rows, "oracle", 2) == pytest.approx(1 - 1 / 6)
    assert acc(rows, "naive", 4) == 0.0              # highest score (0.9) is the wrong answer
    assert acc(rows, "weighted", 4) == 0.0           # weight of "2" (0.9) beats "1" (0.3)
    assert acc(rows, "weighted", 1) == 0.5
    r4 = next(r for r in rows if r["method"] == "majority" and r["n"] == 4)
    assert r4["tokens"] == 40 and r4["wall_s"] == 4.0
    r1 = next(r for r in rows if r["method"] == "majority" and r["n"] == 1)
    assert r1["tokens"] == 10 and r1["wall_s"] == 1.0


def test_missing_answers_are_wrong_not_errors_and_problems_average():
    rows = curve([A, B], methods=["majority", "oracle"], subsamples=100)
    assert acc(rows, "majority", 4) == 0.5
    assert acc(rows, "oracle", 4) == 0.5
    assert all(r["problems"] == 2 for r in rows)


def test_seeds_average_within_a_problem_before_the_mean():
    a_seed1 = {**B, "problem_id": "a", "seed": 1}
    rows = curve([A, a_seed1, {**B, "problem_id": "c"}], methods=["majority"], ns=[4])
    # problem a: (1.0 + 0.0) / 2 = 0.5; problem c: 0.0
    assert rows[0]["accuracy"] == pytest.approx(0.25) and rows[0]["problems"] == 2


def test_scoreless_logs_have_no_weighted_or_naive_rows():
    noscores = rec("x", [cand("1", True), cand("2", False)])
    methods = {r["method"] for r in curve([noscores])}
    assert methods == {"majority", "oracle"}


def test_subsampling_is_seeded_and_reproducible():
    many = rec("m", [cand(str(i % 3), i % 3 == 0, 0.1 * i) for i in range(10)])
    a = curve([many], methods=["majority"], ns=[4], subsamples=16, seed=1)
    b = curve([many], methods=["majority"], ns=[4], subsamples=16, seed=1)
    assert a == b


def test_bootstrap_interval_brackets_the_mean():
    vals = [0, 0, 1, 1, 1, 0, 1, 1]
    lo, hi = bootstrap_ci(vals, reps=500, seed=3)
    assert lo <= sum(vals) / len(vals) <= hi and 0 <= lo < hi <= 1
    assert bootstrap_ci([1.0]) == (1.0, 1.0)


def test_grid_levels_and_summary():
    assert n_grid(8) == [1, 2, 4, 8] and n_grid(6) == [1, 2, 4, 6] and n_grid(1) == [1]
    lv = by_level([{**A, "level": 1}, {**B, "level": 3}], methods=["oracle"])
    assert sorted(lv) == [1, 3] and acc(lv[3], "oracle", 4) == 0.0
    s = summary([A, B])
    assert s["accuracy"] == 0.5 and s["no_answer"] == 1 and s["tokens_per_problem"] == 40
    # A's two right candidates (0.1, 0.2) score below both wrong ones (0.9, 0.5); B has no right one
    assert ranking([A, B]) == {"auroc": 0.0, "pairs": 4, "problems": 1}


def test_ranking_is_within_problems_with_ties_half():
    easy = rec("e", [cand("1", True, 0.9), cand("2", False, 0.8)])
    hard = rec("h", [cand("3", True, 0.2), cand("4", False, 0.2), cand("5", False, 0.1)])
    # pooled, hard's right 0.2 would lose to easy's wrong 0.8; within problems it does not meet it
    assert ranking([easy, hard]) == {"auroc": (1 + 0.5 + 1) / 3, "pairs": 3, "problems": 2}
    unscored = rec("u", [cand("1", True), cand("2", False)])
    assert ranking([unscored]) == {"auroc": None, "pairs": 0, "problems": 0}


def test_paired_bootstrap_brackets_the_difference_and_the_ratio():
    base = [(1.0, 100.0)] * 10 + [(0.0, 100.0)] * 10
    other = [(1.0, 25.0)] * 10 + [(1.0, 25.0)] * 2 + [(0.0, 25.0)] * 8  # +2 of 20 right, a quarter the cost
    (lo, hi), (rlo, rhi) = paired_bootstrap(base, other, seed=1)
    assert 0.0 <= lo <= 10.0 <= hi <= 25.0  # +10 points, never negative: no question got worse
    assert rlo == rhi == pytest.approx(0.25)
    assert paired_bootstrap(base, other, seed=1) == ((lo, hi), (rlo, rhi))  # seeded
    same = paired_bootstrap(base, base)
    assert same == ((0.0, 0.0), (1.0, 1.0))
    with pytest.raises(ValueError, match="same problems"):
        paired_bootstrap(base, other[:5])


def test_elapsed_counts_overlapping_problems_once_and_gaps_between_sessions_never():
    from ponder.eval.metrics import elapsed_per_problem

    def rec(fin, wall):
        return {"problem_id": f"p{fin}", "finished_at": fin, "usage": {"wall_s": wall}}

    # two problems side by side (0–10, 2–10), a third after them (10–14), a fourth after an hour's stop
    recs = [rec(10.0, 10.0), rec(10.0, 8.0), rec(14.0, 4.0), rec(3614.0, 6.0)]
    assert elapsed_per_problem(recs) == pytest.approx((10 + 4 + 6) / 4)
    old = {"problem_id": "old", "usage": {"wall_s": 1.0}}  # logged before records had timestamps
    assert elapsed_per_problem([old, *recs]) == pytest.approx((10 + 4 + 6) / 4)  # the stamped ones
    assert elapsed_per_problem([old] * 5 + recs) is None  # too few stamped to say
    assert elapsed_per_problem([]) is None
