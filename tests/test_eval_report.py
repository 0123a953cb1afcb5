"""Plots, reports and exports from a fixture log, and the eval CLI on the scripted backend."""

import json

from ponder.eval.export import export
from ponder.eval.plots import plot_curves
from ponder.eval.report import write_report

PNG = b"\x89PNG\r\n\x1a\n"


def fixture_log():
    recs = []
    for i in range(6):
        cands = [{"text": f"sol {j}", "answer": str(j % 2), "correct": j % 2 == i % 2, "score": 0.1 * j,
                  "tokens": 20 + j} for j in range(4)]
        recs.append({"problem_id": f"p{i}", "seed": 0, "question": f"q{i}", "reference": str(i % 2),
                     "level": i % 3 + 1, "answer": "0", "correct": i % 2 == 0, "chosen": 0,
                     "candidates": cands, "usage": {"completion_tokens": 86, "wall_s": 2.0}, "trace": []})
    return recs


def test_plot_and_report_files(tmp_path):
    runs = [("run-a", fixture_log()), ("run-b", fixture_log()[:3])]
    png = plot_curves(runs, tmp_path / "c.png")
    assert png.read_bytes().startswith(PNG) and png.stat().st_size > 5000
    paths = write_report(runs, tmp_path / "rep")
    html = paths["html"].read_text()
    assert "<table>" in html and "run-a" in html and "data:image/png;base64," in html
    md = paths["md"].read_text()
    assert "| majority | 4 |" in md and "![accuracy vs compute](curves.png)" in md
    # fixture scores 0.1*j: even problems rank right above wrong in 1 of 4 pairs, odd ones in 3 of 4
    assert "a right candidate outscored a wrong one of the same problem in 50% of 24 pairs (6 problems" in md
    assert "in 42% of 12 pairs (3 problems" in md and "in 42% of 12 pairs" in html
    assert paths["levels"].read_bytes().startswith(PNG)


def test_export_sft_and_preference(tmp_path):
    recs = fixture_log()
    assert export(recs, "sft", tmp_path / "sft.jsonl") == 6
    first = json.loads((tmp_path / "sft.jsonl").read_text().splitlines()[0])
    assert first["messages"][0] == {"role": "user", "content": "q0"}
    assert first["messages"][1]["content"] == "sol 2"  # the highest-scored correct candidate
    assert export(recs, "preference", tmp_path / "pref.jsonl") == 6
    pair = json.loads((tmp_path / "pref.jsonl").read_text().splitlines()[0])
    assert (pair["chosen"], pair["rejected"]) == ("sol 2", "sol 1")


def test_plotting_leaves_the_callers_matplotlib_alone(tmp_path):
    import matplotlib

    from ponder.eval.plots import plot_curves

    before = matplotlib.get_backend()
    matplotlib.use("svg")  # a notebook or app with its own backend
    try:
        recs = [{"problem_id": "a", "seed": 0, "strategy": "vote", "reference": "1", "correct": True,
                 "candidates": [{"answer": "1", "correct": True, "tokens": 5, "score": None}] * 2,
                 "usage": {"completion_tokens": 10, "wall_s": 1.0}}]
        plot_curves([("run", recs)], tmp_path / "c.png")
        import matplotlib.pyplot as plt

        assert matplotlib.get_backend() == "svg" and plt.get_fignums() == []
        assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    finally:
        matplotlib.use(before)


def test_a_search_run_is_one_point_not_a_curve_over_n(tmp_path):
    """A beam log's candidates share prefixes: reading "majority of 2 of them" off it would be a
    strategy nobody ran. The report gives its own answers once, at the samples it drew."""
    beam = [{**r, "strategy": "beam", "candidates": r["candidates"][: 2 + i % 2]}
            for i, r in enumerate(fixture_log())]
    paths = write_report([("vote", fixture_log()), ("beam", beam)], tmp_path / "rep")
    md = paths["md"].read_text()
    section = md[md.index("### beam"):]
    assert "| beam (own answers) | 2.5 (mean) | 50.0 |" in section
    assert "| majority |" not in section.split("###")[1]
    assert "| majority | 4 |" in md[md.index("### vote"):md.index("### beam")]
    assert paths["curves"].read_bytes().startswith(PNG) and paths["levels"].read_bytes().startswith(PNG)


def test_an_empty_export_says_why_and_an_all_zero_plot_keeps_a_readable_axis(tmp_path):
    from matplotlib.figure import Figure

    from ponder.eval.export import why_none
    from ponder.eval.plots import _accuracy_axes

    wrong = [{"problem_id": f"p{i}", "reference": "1", "chosen": 0,
              "candidates": [{"text": "2", "answer": "2", "correct": False}]} for i in range(3)]
    assert export(wrong, "sft", tmp_path / "x.jsonl") == 0
    assert why_none(wrong, "sft").startswith("3 of 3 labelled records have no right candidate")
    assert why_none(wrong, "preference") == "3 of 3 records lack a right and a wrong candidate to pair"
    fig = Figure()
    ax = fig.subplots()
    ax.plot([1, 2, 4], [0, 0, 0])
    _accuracy_axes(fig)
    lo, hi = ax.get_ylim()
    assert lo <= 0 < hi and hi - lo >= 10
