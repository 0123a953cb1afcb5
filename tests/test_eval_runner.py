"""The eval runner: append-only log, resume after a kill, no duplicates, errors retried."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ponder import ConfigError, Engine, Problem, RetryableBackendError, Scripted, ScriptedGenerator
from ponder.eval.metrics import summary
from ponder.eval.runner import RunDir, read_log, run_eval
from ponder.strategies.vote import MajorityVote
from ponder.verifiers.confidence import ConfidenceVerifier

PROBS = [Problem(prompt=f"What is {i} + {i}?", id=f"p{i}", answer=str(2 * i), meta={"level": i % 3 + 1})
         for i in range(6)]


def script(req, i, rng):
    # right three times in four, per the question's own numbers
    q = req.messages[-1].content
    x = int(q.split("What is ")[1].split(" ")[0])
    return Scripted(f"so \\boxed{{{2 * x if rng.random() < 0.75 else 2 * x + 1}}}", -0.2)


def engine(**kw):
    return Engine(ScriptedGenerator(script, **kw), MajorityVote(4), seed=0)


def test_run_logs_every_candidate_graded(tmp_path):
    s = asyncio.run(run_eval(engine(), PROBS, tmp_path, seeds=[0, 1], config={"strategy": "vote"}))
    recs = read_log(tmp_path / "log.jsonl")
    assert s["logged"] == 12 and len(recs) == 12
    r = recs[0]
    assert set(r) >= {"problem_id", "seed", "question", "reference", "level", "answer", "correct",
                      "candidates", "usage", "trace", "finished_at"}
    assert len(r["candidates"]) == 4
    assert summary(recs)["elapsed_s_per_problem"] is not None  # the run's own busy time
    assert all(c["correct"] == (c["answer"] == r["reference"]) for c in r["candidates"])
    assert RunDir(tmp_path).config()["seeds"] == [0, 1]


def test_rerun_skips_what_is_logged_and_extends_seeds(tmp_path):
    asyncio.run(run_eval(engine(), PROBS[:3], tmp_path, seeds=[0], config={"strategy": "vote"}))
    s = asyncio.run(run_eval(engine(), PROBS, tmp_path, seeds=[0, 1], config={"strategy": "vote"}))
    assert s["skipped"] == 3 and s["logged"] == 9
    keys = [(r["problem_id"], r["seed"]) for r in read_log(tmp_path / "log.jsonl")]
    assert len(keys) == len(set(keys)) == 12


def test_changed_settings_are_refused(tmp_path):
    asyncio.run(run_eval(engine(), PROBS[:1], tmp_path, config={"strategy": "vote", "n": 4}))
    with pytest.raises(ConfigError, match="n: 4 here, 8 now"):
        asyncio.run(run_eval(engine(), PROBS[:1], tmp_path, config={"strategy": "vote", "n": 8}))


def test_torn_last_line_is_repaired(tmp_path):
    asyncio.run(run_eval(engine(), PROBS[:2], tmp_path, config={}))
    with (tmp_path / "log.jsonl").open("a") as f:
        f.write('{"problem_id": "p2", "seed": 0, "cand')  # a crash mid-write
    s = asyncio.run(run_eval(engine(), PROBS[:3], tmp_path, config={}))
    assert s["skipped"] == 2 and s["logged"] == 1
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(x) for x in lines)


def test_failed_problems_are_not_logged_and_are_retried(tmp_path):
    eng = Engine(ScriptedGenerator(script, errors=[RetryableBackendError("503")]), MajorityVote(2),
                 concurrency=1)
    s = asyncio.run(run_eval(eng, PROBS[:3], tmp_path, config={}))
    assert s["errors"] == 1 and s["logged"] == 2
    assert "503" in (tmp_path / "errors.jsonl").read_text()
    s = asyncio.run(run_eval(engine(), PROBS[:3], tmp_path, config={}))
    assert s["logged"] == 1 and len(read_log(tmp_path / "log.jsonl")) == 3


def test_scorer_fills_scores_for_weighted_curves(tmp_path):
    eng = Engine(ScriptedGenerator(script), MajorityVote(3), ConfidenceVerifier("mean"))
    asyncio.run(run_eval(eng, PROBS[:2], tmp_path, config={}, scorer=eng.verifier))
    assert all(c["score"] is not None for r in read_log(tmp_path / "log.jsonl") for c in r["candidates"])


KILLED_RUN = textwrap.dedent('''
    import asyncio, sys
    from ponder import Engine, Problem, ScriptedGenerator
    from ponder.eval.runner import run_eval
    from ponder.strategies.vote import MajorityVote
    probs = [Problem(prompt=f"q{i}", id=f"p{i}", answer="1") for i in range(40)]
    eng = Engine(ScriptedGenerator(["\\\\boxed{1}", "\\\\boxed{2}"], delay_s=float(sys.argv[2])),
                 MajorityVote(3), concurrency=2)
    asyncio.run(run_eval(eng, probs, sys.argv[1], seeds=[0], config={"strategy": "vote"}))
''')


def test_sigkill_mid_run_loses_nothing_and_resume_completes(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(out), "0.05"])
    log = out / "log.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not log.exists() or log.read_text().count("\n") < 5):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = read_log(log)
    assert 5 <= len(before) < 40, "the run should have been killed part-way"
    subprocess.run([sys.executable, "-c", KILLED_RUN, str(out), "0"], check=True)
    after = read_log(log)
    ids = [r["problem_id"] for r in after]
    assert sorted(ids, key=lambda s: int(s[1:])) == [f"p{i}" for i in range(40)]  # complete, no duplicates
    assert after[: len(before)] == before  # what was logged before the kill is untouched


def test_a_corrupt_middle_line_is_skipped_and_reported_never_cutting_good_records(tmp_path):
    asyncio.run(run_eval(engine(), PROBS[:2], tmp_path, config={}))
    log = tmp_path / "log.jsonl"
    first, second = log.read_text().splitlines()
    log.write_text(first + "\n" + '{"problem_id": "p9", "se\x00garbage\n' + second + "\n")
    s = asyncio.run(run_eval(engine(), PROBS[:4], tmp_path, config={}))
    assert s["skipped"] == 2 and s["logged"] == 2  # both good records kept: nothing recomputed
    assert any("line 2 is not valid JSON" in m for m in s["log_issues"])
    assert sorted(r["problem_id"] for r in read_log(log)) == ["p0", "p1", "p2", "p3"]
    assert "garbage" in log.read_text()  # the bad line is left for a person to look at


def test_lines_that_are_not_records_are_skipped_and_counted_everywhere_a_log_is_read(tmp_path):
    """Hostile lines (valid JSON of the wrong shape, wrong types, deep nesting) never stop a reader:
    report, plot, export and a resuming eval skip them, say how many, and keep every good record."""
    from typer.testing import CliRunner

    from ponder.cli import app

    asyncio.run(run_eval(engine(), PROBS[:2], tmp_path, config={}))
    with (tmp_path / "log.jsonl").open("a") as f:
        f.write('{"hello": "world"}\n{}\n')
        f.write(json.dumps({"problem_id": "x", "seed": 0, "candidates": "not a list"}) + "\n")
        f.write(json.dumps({"problem_id": "y", "seed": 0, "candidates": [{"answer": 5}]}) + "\n")
        f.write("[" * 100_000 + "]" * 100_000 + "\n")
    issues = []
    assert len(read_log(tmp_path / "log.jsonl", issues=issues)) == 2
    assert issues == [f"{tmp_path / 'log.jsonl'}: 5 line(s) are not eval records and were skipped (line 3 is no "
                      "problem_id and seed); the records around them are kept"]
    for args in (["report", str(tmp_path), "-o", str(tmp_path / "rep")], ["plot", str(tmp_path), "-o",
                 str(tmp_path / "c.png")], ["export", str(tmp_path), "-o", str(tmp_path / "x.jsonl")]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0 and "5 line(s) are not eval records" in res.output, (args, res.output)
        assert "Traceback" not in res.output
    (tmp_path / "run.json").write_text("[" * 5000)
    with pytest.raises(ConfigError, match="run.json.*nests deeper than 64"):
        RunDir(tmp_path).config()
    (tmp_path / "run.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="is not a JSON object"):
        RunDir(tmp_path).config()
    assert RunDir(tmp_path, shown_from=tmp_path.parent).label("run.json") == f"{tmp_path.name}/run.json"


def test_a_name_that_now_means_another_file_is_refused_but_older_logs_resume(tmp_path):
    # a distilled NAME moves to round 2's file once --rounds grows: a log of round 1's file under
    # that name must not take round 2's answers; a log from before hashes were recorded still resumes
    model = {"strategy": "vote", "model": "sums"}
    asyncio.run(run_eval(engine(), PROBS[:1], tmp_path, config={**model, "model_sha256": "a" * 64}))
    with pytest.raises(ConfigError, match="another file under the model name 'sums' .SHA-256 aaaaaaaaaaaa"):
        asyncio.run(run_eval(engine(), PROBS[:2], tmp_path, config={**model, "model_sha256": "b" * 64}))
    older = tmp_path / "older"
    asyncio.run(run_eval(engine(), PROBS[:1], older, config=model))
    s = asyncio.run(run_eval(engine(), PROBS[:2], older, config={**model, "model_sha256": "b" * 64}))
    assert s["logged"] == 1 and RunDir(older).config()["model_sha256"] == "b" * 64


def test_duplicate_records_count_once_and_are_reported(tmp_path):
    asyncio.run(run_eval(engine(), PROBS[:2], tmp_path, config={}))
    log = tmp_path / "log.jsonl"
    log.write_text(log.read_text() * 2)  # e.g. two runs that both wrote
    run = RunDir(tmp_path)
    recs = run.records()
    assert [r["problem_id"] for r in recs] == ["p0", "p1"]
    assert len(run.issues) == 1 and "2 record(s) repeat" in run.issues[0]


def test_a_second_run_on_the_same_directory_is_refused_while_the_first_runs(tmp_path):
    first = RunDir(tmp_path)
    first.start({"strategy": "vote"})
    try:
        with pytest.raises(ConfigError, match="another ponder eval .pid"):
            asyncio.run(run_eval(engine(), PROBS[:1], tmp_path, config={"strategy": "vote"}))
        assert not (tmp_path / "log.jsonl").exists()
    finally:
        first.close()
    s = asyncio.run(run_eval(engine(), PROBS[:1], tmp_path, config={"strategy": "vote"}))
    assert s["logged"] == 1  # free again once the first run is done


def test_two_processes_on_one_directory(tmp_path):
    """Two real processes: while one holds the directory the other is refused; a killed holder frees it."""
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from ponder.eval.runner import RunDir
        run = RunDir({str(tmp_path)!r})
        run.start({{"strategy": "vote"}})
        print("locked", flush=True)
        time.sleep(30)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError, match="another ponder eval"):
            RunDir(tmp_path).start({"strategy": "vote"})
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    again = RunDir(tmp_path)
    again.start({"strategy": "vote"})  # a killed holder's lock is gone with it
    again.close()
