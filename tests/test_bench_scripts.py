"""The benchmark scripts whose tables bench/'s READMEs quote still run against the library (they
import its fitting and replay functions), on small synthetic logs whose answers are known."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from ponder.allocation.policy import fit_policy
from ponder.allocation.stopping import fit_stop_rule
from ponder.voting import PreparedRecord
from test_frontier import model_log

BENCH = Path(__file__).resolve().parent.parent / "bench"
EFFICIENCY = "experiments/compute-where-it-pays/efficiency.py"
FRONTIER = "experiments/small-vs-large/frontier_heldout.py"
CUT_LOGS = "lib/cut_logs.py"
TOKEN_CAPS = "experiments/compute-where-it-pays/token_caps.py"
CASCADE = "experiments/small-vs-large/cascade.py"


def write_run(path, model, recs):
    path.mkdir()
    (path / "run.json").write_text(json.dumps({"model": model, "strategy": recs[0]["strategy"], "n": 8}))
    (path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return str(path)


def sc_log(params, p_right, seed, prefix, count=24, n=8):
    """`test_frontier.model_log`'s self-consistency records (right samples confident; llama.cpp-style
    FLOPs), with what `ponder eval` adds: the vote's own correctness, timestamps, split-specific ids."""
    recs = model_log(params, p_right, count=count, n=n, seed=seed)
    for q, r in enumerate(recs):
        r.update(problem_id=f"{prefix}{q}", finished_at=1000.0 + 10 * q,
                 correct=PreparedRecord(r).vote_correct(range(n)))  # what the vote strategy answered
    return recs


def run(script, *args):
    out = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_efficiency_replays_rules_policy_and_pool_against_self_consistency(tmp_path):
    easy = {1: 0.95, 2: 0.6}
    fit = write_run(tmp_path / "fit", "small", sc_log(0.5e9, easy, 1, "f"))
    rep = write_run(tmp_path / "rep", "small", sc_log(0.5e9, easy, 2, "r"))
    fit_policy(sc_log(0.5e9, easy, 1, "f"), probe=2).save(tmp_path / "policy.json")
    out = run(EFFICIENCY, "--fit", fit, "--report", rep, "--policy", str(tmp_path / "policy.json"),
              "--pool", "0.3", "--real", rep)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in out.splitlines() if line.startswith("| ")}
    assert "| 1.00× [1.00, 1.00] |" in rows["self-consistency@8 (log)"]
    bound = rows["oracle bound: stop when the majority never changes again"]
    assert float(bound.split(" | ")[4].split("×")[0]) < 1.0
    assert any(k.startswith("learned stop + policy replayed") for k in rows)
    assert any("run budget of 0.3×" in k for k in rows)
    assert "| +0.0 [+0.0, +0.0] |" in rows["rep (sampled for real, 24 questions)"]  # itself, paired


def test_frontier_heldout_compares_models_at_equal_flops_and_replays_route(tmp_path):
    small_p, large_p = {1: 0.9, 2: 0.3}, {1: 0.97, 2: 0.8}
    args = []
    for split, seed in (("fit", 1), ("rep", 2)):
        for model, params, p in (("small", 0.5e9, small_p), ("large", 1.5e9, large_p)):
            d = write_run(tmp_path / f"{model}-{split}", model, sc_log(params, p, seed + len(model), split))
            args += [f"--{'fit' if split == 'fit' else 'report'}", d]
    out = run(FRONTIER, *args, "--probe", "2")
    assert "## Smaller models with more samples against large, at no more FLOPs" in out
    assert "## Routing, fitted on" in out and "| none |" in out
    small_rep = args[args.index("--report") + 1]
    out = run(FRONTIER, "--report", small_rep, "--report", args[-1], "--difficulty", small_rep,
              "--held-back", "4")
    assert "# levels: difficulty from small's last 4 samples" in out
    small_large = out.split("## Smaller models")[1].split("## Routing bound")[0]
    rows = [line.split(" | ")[0].lstrip("| ") for line in small_large.splitlines() if "| large majority@" in line]
    assert "all" in rows and set(rows) - {"all"} <= {"1", "2", "3", "4", "5"} and len(set(rows)) > 2
    assert "## Routing bound: each question's level known" in out
    bound = [line for line in out.splitlines() if line.startswith("| ") and "| 1: " in line]
    assert bound and all(float(line.split(" | ")[-1].split(" ")[0]) >= 0 for line in bound)  # never below single


def test_cut_logs_keeps_a_slice_or_parity_and_efficiency_lists_changes_and_sweeps_thresholds(tmp_path):
    easy = {1: 0.95, 2: 0.6}
    log = write_run(tmp_path / "sc", "small", sc_log(0.5e9, easy, 3, "arith-s3-L1-", count=30))
    with open(Path(log) / "log.jsonl", "a") as f:
        f.write('{"problem_id": "arith-s3-L1-30", "torn')  # a record still being written
    run(CUT_LOGS, "--slice", "10:30", "--parity", "odd", "--out", str(tmp_path / "cut"), log)
    kept = [json.loads(x)["problem_id"] for x in (tmp_path / "cut" / "sc" / "log.jsonl").read_text().splitlines()]
    assert kept == [f"arith-s3-L1-{i}" for i in range(11, 30, 2)]
    fits = [write_run(tmp_path / f"fit{s}", "small", sc_log(0.5e9, easy, s, f"f{s}-")) for s in (1, 2)]
    out = run(EFFICIENCY, "--report", log, "--fit", fits[0], "--fit", fits[1], "--changes",
              "--threshold", "0.5", "--threshold", "2")
    assert "fit on 48 questions of fit1, fit2" in out  # both fitting runs pooled
    never = next(line for line in out.splitlines() if "threshold 2 instead of" in line)
    assert "| +0.0 [+0.0, +0.0] |" in never and "| 1.00× [1.00, 1.00] |" in never  # never stops early: SC itself
    assert "| question | level | reference | stopped after |" in out


def test_token_caps_cuts_long_samples_to_what_their_prefix_says(tmp_path):
    """Two questions of 4 samples: long right samples state an intermediate 7 first and box 12 last,
    so cutting them at half their length leaves the 7; short samples are untouched."""
    long_right = {"text": "First 7 apples. " + "x" * 84 + " so \\boxed{12}", "answer": "12", "correct": True,
                  "tokens": 100, "finish_reason": "stop"}
    short_wrong = {"text": "\\boxed{5}", "answer": "5", "correct": False, "tokens": 10, "finish_reason": "stop"}
    recs = [{"problem_id": f"q{i}", "reference": "12", "strategy": "vote",
             "candidates": [long_right] * 3 + [short_wrong]} for i in range(2)]
    out = run(TOKEN_CAPS, write_run(tmp_path / "sc", "small", recs), "--cap", "50", "--cap", "100")
    easy = next(line for line in out.splitlines() if line.startswith("| easy |"))
    # no cap: 3 of 4 say 12 (both right); at 50 the long ones say 7 (wrong), half of 310 tokens each kept
    assert easy == "| easy | 2 | 2 | 0 · 52% | 2 · 100% |"


def test_efficiency_crossfits_rules_and_policies_on_the_report_splits_halves(tmp_path):
    easy = {1: 0.95, 2: 0.6}
    rep = write_run(tmp_path / "rep", "small", sc_log(0.5e9, easy, 4, "gsm8k-", count=40))
    fit_stop_rule(sc_log(0.5e9, easy, 5, "f", count=30)).save(tmp_path / "rule.json")
    out = run(EFFICIENCY, "--report", rep, "--rule", str(tmp_path / "rule.json"), "--crossfit",
              "--crossfit-policy", "2")
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in out.splitlines() if line.startswith("| ")}
    cross = [k for k in rows if k.startswith("learned stop cross-fitted on the split's halves")]
    assert len(cross) == 2 and any("target outcome" in k for k in cross)
    pol = next(k for k in rows if k.startswith("rule.json + policy cross-fitted on the halves (probe 2"))
    assert float(rows[pol][4].split("×")[0]) <= 1.0  # a policy only ever caps the rule
    bad = subprocess.run([sys.executable, str(BENCH / EFFICIENCY), "--report", rep, "--crossfit-policy", "2"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "--crossfit-policy replays a policy under a stop rule" in bad.stderr


def test_cascade_keeps_agreeing_small_answers_and_sends_the_rest_to_the_large_model(tmp_path):
    # level 1: the small model is always right (two samples always agree, kept); level 2: always wrong with
    # answers spread over 2..9, so two samples agree 1 time in 8 and 7/8 of those questions go to the large
    small = write_run(tmp_path / "small", "small", sc_log(0.5e9, {1: 1.0, 2: 0.0}, 1, "q"))
    large = write_run(tmp_path / "large", "large", sc_log(1.5e9, {1: 0.97, 2: 0.8}, 2, "q", n=4))
    out = run(CASCADE, "--small", small, "--large", large, "--probe", "2")
    assert out.startswith("# 24 questions in both logs")
    cells = [line.split(" | ") for line in out.splitlines() if line.startswith("| 2 ")]
    rows = {c[0].lstrip("| "): c for c in cells}
    assert sorted(rows) == [f"2 agreeing small samples, else large majority@{k}" for k in (1, 2, 3, 4)]
    row = rows["2 agreeing small samples, else large majority@4"]
    acc, flops, sent = float(row[1]), float(row[2]), float(row[3].rstrip("%"))
    alone_acc, alone_flops = (float(x) for x in row[4].split(", "))
    assert 30 <= sent <= 50  # about half the questions (level 2) times 7/8
    assert flops < alone_flops  # two small probes plus the large model on ~40% cost less than it on all
    assert acc > 50  # level 1 is all kept and right
    assert "majority@" in row[6] or row[6] == "none fits"
    bad = subprocess.run([sys.executable, str(BENCH / CASCADE), "--small", small,
                          "--large", write_run(tmp_path / "other", "large", sc_log(1.5e9, {1: 0.9, 2: 0.5}, 3, "x"))],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "share no problem_id" in bad.stderr


def test_analyses_rebuild_their_tables_from_the_committed_logs_from_any_directory(tmp_path):
    # the experiments' analyses read only committed logs, in a temporary folder of their own
    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable}
    for script, needle in (("compute-where-it-pays", "| q05-gsm8k-auto (sampled for real, 40 questions) |"),
                           ("small-vs-large", "2 agreeing small samples, else large majority@4")):
        out = subprocess.run(["bash", str(BENCH / "experiments" / script / "analyse.sh"), "gsm8k", "40"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        assert needle in out.stdout
    distill = subprocess.run(["bash", str(BENCH / "experiments" / "distill" / "analyse.sh"), "arith", "--limit", "40"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert distill.returncode == 0, distill.stderr
    assert "| distilled (verified, round 1): greedy |" in distill.stdout and "pays back after" in distill.stdout
    assert "| base: auto |" in distill.stdout and "| the 1.5B (3× the parameters): vote@4 |" in distill.stdout
    assert list(tmp_path.iterdir()) == []  # nothing written where it was run from
    bad = subprocess.run(["bash", str(BENCH / "experiments" / "small-vs-large" / "analyse.sh"), "mmlu"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "SET must be arith or gsm8k, not 'mmlu'" in bad.stderr


def test_figures_redraws_a_figure_from_committed_logs(tmp_path):
    out = subprocess.run([sys.executable, str(BENCH / "lib" / "figures.py"), "--only", "revisions.png",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    png = (tmp_path / "revisions.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_logs_restore_keeps_a_run_that_has_grown_further(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_logs", BENCH / "lib" / "logs.py")
    logs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(logs)
    records, unpack = logs.records, logs.unpack
    name = "runs/revisions/q05-arith-s2-vote4"
    committed = records(BENCH / (name + ".log.jsonl.gz"))
    run = unpack(name, tmp_path)
    assert records(run / "log.jsonl") == committed and (run / "run.json").is_file()
    with open(run / "log.jsonl", "a") as f:
        f.write('{"problem_id": "grown"}\n')
    unpack(name, tmp_path, live=tmp_path)  # restore over itself: the longer log stays
    assert records(run / "log.jsonl") == committed + 1
    unpack(name, tmp_path)  # without --live the committed log wins
    assert records(run / "log.jsonl") == committed
