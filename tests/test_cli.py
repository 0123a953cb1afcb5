"""CLI input errors: exit status 2 and a message naming the parameter (no model needed)."""

import pytest
from typer.testing import CliRunner

from ponder.cli import app

runner = CliRunner()


@pytest.mark.parametrize("args,needle", [
    (["ask", "   "], "prompt="),
    (["ask", "q", "--strategy", "beamz"], "strategy='beamz'"),
    (["ask", "q", "--n", "0"], "n=0"),
    (["ask", "q", "--strategy", "greedy", "--n", "4"], "n=4"),
    (["ask", "q", "--verifier", "oracle9"], "verifier='oracle9'"),
    (["ask", "q", "--model", "/no/such/model.gguf"], "model='/no/such/model.gguf'"),
    (["ask", "q", "--max-tokens", "0"], "max_tokens=0"),
    (["ask", "q", "--backend", "grpc"], "backend='grpc'"),
    (["ask", "q", "--backend", "openai"], "base_url=None"),
    (["pull", "gpt-5"], "name='gpt-5'"),
    (["ask", "q", "--option", "batch"], "option='batch'"),
    (["ask", "q", "--strategy", "adaptive-vote", "--option", "threshold=2"], "threshold=2"),
    (["ask", "q", "--strategy", "auto", "--option", "rule=/no/such/stop.json"], "rule='/no/such/stop.json'"),
    (["eval", "--dataset", "gsm8k[9:3]"], "dataset='gsm8k[9:3]'"),
    (["eval", "--dataset", "arith:seed=x"], "dataset='arith:seed=x'"),
])
def test_bad_input_exits_2_naming_the_parameter(args, needle):
    out = runner.invoke(app, args)
    assert out.exit_code == 2, out.output
    assert needle in out.output.replace("\n", "")


def test_models_lists_the_packaged_models():
    out = runner.invoke(app, ["models"])
    assert out.exit_code == 0
    for name in ("smollm2-135m", "qwen2.5-coder-0.5b"):
        assert name in out.output


@pytest.fixture
def junk(tmp_path):
    """Files that look like what a user might pass by mistake."""
    (tmp_path / "notes.gguf").write_text("not a model")
    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "a-file").write_text("x")
    return tmp_path


@pytest.mark.parametrize("args,needle", [
    (["ask", "q", "--model", "{t}/notes.gguf"], "is not a GGUF file"),
    (["ask", "q", "--model", "{m}", "--verifier", "prm:{t}/not-a-model"], "no config.json"),
    (["ask", "q", "--model", "{m}", "--verifier", "prm:{t}/a-file"], "is a file"),
    (["eval", "--model", "{m}", "--dataset", "arith", "--limit", "1", "--n", "1", "--out", "{t}/a-file"], "out="),
    (["eval", "--model", "{m}", "--dataset", "arith", "--limit", "1", "--n", "1", "--out", "/proc/no-such/run"],
     "cannot be written"),
    (["convert-gguf", "{t}/notes.gguf", "{t}/hf"], "is not a GGUF file"),
    (["serve", "--port", "99999"], "port=99999"),
    (["serve", "--port", "-1"], "port=-1"),
    (["serve", "--max-batch", "0"], "max_batch=0"),
    (["serve", "--batch-window-ms", "-5"], "batch_window_ms=-5"),
    (["serve", "--n", "100", "--max-n", "64"], "n=100"),
])
def test_bad_files_and_server_settings_exit_2_in_one_line(junk, args, needle):
    from conftest import TEST_MODEL  # installed by `make test`; these commands load it before failing

    out = runner.invoke(app, [a.replace("{t}", str(junk)).replace("{m}", TEST_MODEL) for a in args])
    assert out.exit_code == 2, out.output
    assert needle in out.output.replace("\n", "") and "Traceback" not in out.output
    assert isinstance(out.exception, SystemExit)  # a clean exit, not an uncaught exception


def test_report_to_an_unwritable_place_exits_2(tmp_path):
    import asyncio

    from ponder import Engine, Problem, ScriptedGenerator
    from ponder.eval.runner import run_eval
    from ponder.strategies.vote import MajorityVote

    asyncio.run(run_eval(Engine(ScriptedGenerator(["\\boxed{2}"]), MajorityVote(2)),
                         [Problem(prompt="1+1?", id="a", answer="2")], tmp_path / "run", config={}))
    for cmd in (["report", str(tmp_path / "run"), "-o", "/proc/no-such/report"],
                ["plot", str(tmp_path / "run"), "-o", "/proc/no-such/curves.png"],
                ["export", str(tmp_path / "run"), "-o", "/proc/no-such/sft.jsonl"],
                ["plot", str(tmp_path / "run"), "-o", str(tmp_path / "typo" / "c.png")]):
        out = runner.invoke(app, cmd)
        assert out.exit_code == 2 and "out=" in out.output and "does not exist" in out.output, (cmd, out.output)
    assert not (tmp_path / "typo").exists()  # no folder is made from a typo
    for cmd in (["report", str(tmp_path / "run"), "-o", "/proc/report"],
                ["plot", str(tmp_path / "run"), "-o", "/proc/curves.png"],
                ["export", str(tmp_path / "run"), "-o", "/proc/sft.jsonl"]):
        out = runner.invoke(app, cmd)
        assert out.exit_code == 2 and "out=" in out.output and "cannot be written" in out.output, (cmd, out.output)


def test_fit_stop_writes_a_rule_that_auto_reads(tmp_path):
    import json

    from ponder.allocation.stopping import StopRule
    from test_auto import synthetic_log

    run = tmp_path / "fit"
    run.mkdir()
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in synthetic_log(30)))
    out = runner.invoke(app, ["fit-stop", str(run), "-o", str(tmp_path / "stop.json"), "--max-drop", "0.01"])
    assert out.exit_code == 0, out.output
    assert "learned stop" in out.output and "self-consistency@16" in out.output
    rule = StopRule.load(tmp_path / "stop.json")
    assert rule.fitted_on["questions"] == 30 and rule.fitted_on["max_drop"] == 0.01
    bad = runner.invoke(app, ["fit-stop", str(run), "--round", "0", "-o", str(tmp_path / "x.json")])
    assert bad.exit_code == 2 and "round_size=0" in bad.output
    empty = tmp_path / "empty"
    empty.mkdir()
    assert runner.invoke(app, ["fit-stop", str(empty)]).exit_code == 2


def test_async_clients_are_closed_in_the_loop_that_used_them_and_app_logging_is_respected():
    import asyncio
    import logging

    from ponder import ScriptedGenerator
    from ponder.backends.batching import BatchingGenerator
    from ponder.cli.common import _closing

    closed = []

    class WithClient(ScriptedGenerator):
        async def aclose(self):
            closed.append(asyncio.get_running_loop())

    async def work():
        return asyncio.get_running_loop()

    loop = asyncio.run(_closing(work(), BatchingGenerator(WithClient(["x"]))))
    assert closed == [loop]  # through the batching wrapper, before asyncio.run closed the loop
    # a level the application set on math-verify's logger is kept
    from ponder import answers

    logging.getLogger("math_verify").setLevel(logging.DEBUG)
    answers._quiet_math_verify.cache_clear()
    answers._quiet_math_verify()
    assert logging.getLogger("math_verify").level == logging.DEBUG
    logging.getLogger("math_verify").setLevel(logging.NOTSET)
    answers._quiet_math_verify.cache_clear()
    answers._quiet_math_verify()
    assert logging.getLogger("math_verify").level == logging.ERROR


def test_ask_reports_ties_budget_cuts_and_why_an_adaptive_strategy_stopped(capsys):
    import asyncio

    from ponder import Engine, Problem, SamplingParams, ScriptedGenerator
    from ponder.cli.ask import _print_result
    from ponder.params import Budget
    from ponder.registry import make_strategy

    gen = ScriptedGenerator(lambda req, i, rng: f"so \\boxed{{{i % 2}}}")  # two answers, one vote each
    tie = asyncio.run(Engine(gen, make_strategy("vote", 2), params=SamplingParams()).asolve(Problem(prompt="q")))
    _print_result(tie, show_trace=False)
    out = capsys.readouterr().out
    assert "tie:" in out and "0, 1 are level" in out
    cut = asyncio.run(Engine(gen, make_strategy("vote", 8), params=SamplingParams(max_tokens=10),
                             budget=Budget(tokens=25)).asolve(Problem(prompt="q")))
    _print_result(cut, show_trace=False)
    assert "the tokens budget cut 8 sample(s) to 2" in capsys.readouterr().out
    same = ScriptedGenerator(["so \\boxed{4}"])
    auto = asyncio.run(Engine(same, make_strategy("auto", 16), params=SamplingParams()).asolve(Problem(prompt="q")))
    _print_result(auto, show_trace=False)
    assert "auto stopped after" in capsys.readouterr().out


def test_progress_is_plain_lines_off_a_terminal():
    import io

    from ponder.cli.progress import Lines

    now = [0.0]
    out = io.StringIO()
    lines = Lines("eval", 10, every_s=30, stream=out, clock=lambda: now[0])
    for i in range(1, 11):
        now[0] += 10
        lines.update(i, acc="50.0%")
    text = out.getvalue().splitlines()
    assert text[0].startswith("eval: 1/10 (10%), acc 50.0%") and text[-1].startswith("eval: 10/10 (100%)")
    assert len(text) == 4  # every 30 s of the 100, and the last
    assert "eta" in text[1]


def test_ask_effort_levels_pick_a_strategy_and_n(plugin):
    import json as _json

    low = runner.invoke(app, ["ask", "q", "--backend", "scripted", "-m", "m", "--effort", "low", "--json"])
    assert low.exit_code == 0, low.output
    got = _json.loads(low.output)
    assert got["strategy"] == "vote" and len(got["candidates"]) == 4
    minimal = _json.loads(runner.invoke(app, ["ask", "q", "--backend", "scripted", "-m", "m", "--effort",
                                              "minimal", "--json"]).output)
    assert minimal["strategy"] == "greedy"
    mine = _json.loads(runner.invoke(app, ["ask", "q", "--backend", "scripted", "-m", "m", "--effort", "high",
                                           "-s", "vote", "-n", "2", "--json"]).output)
    assert mine["strategy"] == "vote" and len(mine["candidates"]) == 2  # explicit flags win
    bad = runner.invoke(app, ["ask", "q", "--effort", "extreme"])
    assert bad.exit_code == 2 and "effort='extreme'" in bad.output
    bad = runner.invoke(app, ["serve", "--backend", "scripted", "--effort", "high=vote"])
    assert bad.exit_code == 2 and "effort='high=vote'" in bad.output
