"""Recipes: a YAML file (or a shipped name) sets a whole setup for ask, eval and serve; flags win."""

import json
import textwrap

import pytest
from typer.testing import CliRunner

from ponder import ConfigError, Problem, ScriptedGenerator
from ponder.cli import app
from ponder.recipes import load_recipe, parse_recipe, shipped

runner = CliRunner()


def test_every_shipped_recipe_is_valid_and_names_a_packaged_model():
    from ponder.models import PACKAGED_MODELS

    files = shipped()
    assert {"qwen0.5b-vote", "qwen0.5b-auto", "qwen0.5b-deepconf", "qwen0.5b-revise"} <= set(files)
    for name in files:
        r = load_recipe(name)
        assert r.model in PACKAGED_MODELS and r.description and r.strategy


def test_a_recipe_maps_onto_the_command_line_names():
    r = parse_recipe({"strategy": "adaptive-vote", "n": 16, "options": {"threshold": 0.9},
                      "params": {"temperature": 0.5, "max_tokens": 256}, "budget": {"tokens": 4000, "wall_s": 30}})
    assert r.flags() == {"strategy": "adaptive-vote", "n": 16, "temperature": 0.5, "max_tokens": 256,
                         "budget_tokens": 4000, "budget_seconds": 30}
    assert r.options == {"threshold": 0.9}


def test_only_options_that_name_files_are_read_as_files(tmp_path):
    """adaptive-vote's `rule` is a rule's name; auto's `rule` is a stop-rule file."""
    esc = parse_recipe({"strategy": "adaptive-vote", "options": {"rule": "esc"}})
    assert esc.engine(ScriptedGenerator(["\\boxed{1}"])).strategy.rule == "esc"
    with pytest.raises(ConfigError, match="rule='esc'.*stop-rule file"):
        parse_recipe({"strategy": "auto", "options": {"rule": "esc"}})


@pytest.mark.parametrize("data,needle", [
    ({"strategy": "vote", "temprature": 0.5}, "recipe field 'temprature'=0.5: unknown"),
    ({"n": 4}, "strategy=None"),
    ({"strategy": "beamz"}, "strategy='beamz'"),
    ({"strategy": "adaptive-vote", "options": {"threshold": "0.9"}}, "threshold='0.9'"),
    ({"strategy": "adaptive-vote", "options": {"colour": "red"}}, "colour='red'"),
    ({"strategy": "vote", "n": 0}, "n=0"),
    ({"strategy": "vote", "params": {"max_tokens": 0}}, "max_tokens=0"),
    ({"strategy": "vote", "params": {"top_q": 1}}, "params.top_q=1"),
    ({"strategy": "vote", "budget": {"tokens": -1}}, "budget.tokens=-1"),
    ({"strategy": "vote", "verifier": "oracle9"}, "verifier='oracle9'"),
    ({"strategy": "vote", "options": [1, 2]}, "options=[1, 2]"),
    (["strategy", "vote"], "must be a YAML mapping"),
])
def test_bad_recipes_name_the_field_and_value(data, needle):
    with pytest.raises(ConfigError) as e:
        parse_recipe(data)
    assert needle in str(e.value)


def test_unknown_recipe_and_bad_yaml_fail_clearly(tmp_path):
    with pytest.raises(ConfigError, match="recipe='nope'.*qwen0.5b-vote"):
        load_recipe("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("strategy: [vote\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_recipe(str(bad))


@pytest.fixture
def recipe(plugin, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(textwrap.dedent("""
        description: a plugin setup
        model: m
        backend: scripted
        strategy: triple
        n: 2
        options: {factor: 2}
        backend_options: {answer: "9"}
        params: {max_tokens: 64}
    """))
    return str(path)


def ask(*args):
    out = runner.invoke(app, ["ask", "q", *args, "--json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


def test_ask_takes_everything_from_a_recipe(recipe):
    r = ask("--recipe", recipe)
    assert r["answer"] == "9" and len(r["candidates"]) == 4  # n=2 × factor=2, the scripted backend's answer


def test_flags_given_explicitly_win_over_the_recipe(recipe):
    assert len(ask("--recipe", recipe, "--n", "3")["candidates"]) == 6
    assert len(ask("--recipe", recipe, "--option", "factor=1")["candidates"]) == 2  # merged key by key
    assert ask("--recipe", recipe, "-O", "answer=7")["answer"] == "7"
    assert len(ask("--n", "3", "--recipe", recipe)["candidates"]) == 6  # whatever the order


def test_eval_records_the_recipes_settings(recipe, tmp_path):
    data = tmp_path / "q.jsonl"
    data.write_text('{"question": "q", "answer": "9"}\n')
    out = runner.invoke(app, ["eval", "-d", str(data), "--recipe", recipe, "-o", str(tmp_path / "run")])
    assert out.exit_code == 0, out.output
    cfg = json.loads((tmp_path / "run" / "run.json").read_text())
    assert (cfg["strategy"], cfg["n"], cfg["params"]["max_tokens"]) == ("triple", 2, 64)
    assert cfg["search"]["factor"] == 2
    [rec] = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert rec["correct"] and len(rec["candidates"]) == 4


def test_cli_recipe_errors_exit_2(tmp_path):
    out = runner.invoke(app, ["ask", "q", "--recipe", "nope"])
    assert out.exit_code == 2 and "recipe='nope'" in out.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("strategy: vote\nn: -3\n")
    out = runner.invoke(app, ["eval", "-d", "arith", "--recipe", str(bad)])
    assert out.exit_code == 2 and "n=-3" in out.output


def test_recipes_command_lists_and_prints_them():
    out = runner.invoke(app, ["recipes"])
    assert out.exit_code == 0 and "qwen0.5b-auto" in out.output and "qwen2.5-coder-0.5b" in out.output
    out = runner.invoke(app, ["recipes", "qwen0.5b-deepconf"])
    assert out.exit_code == 0 and "strategy: deepconf" in out.output
    assert runner.invoke(app, ["recipes", "nope"]).exit_code == 2


def test_python_users_get_an_engine_from_a_recipe(recipe):
    import asyncio

    from ponder import Problem, ScriptedGenerator

    r = load_recipe(recipe)
    engine = r.engine()
    assert engine.generator.name == "plug:m" and engine.params.max_tokens == 64
    res = asyncio.run(engine.asolve(Problem(prompt="q")))
    assert res.answer == "9" and len(res.candidates) == 4
    mine = ScriptedGenerator(["so \\boxed{3}"])
    assert asyncio.run(r.engine(mine).asolve(Problem(prompt="q"))).answer == "3"


def test_serve_takes_its_default_strategy_from_a_recipe(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("strategy: adaptive-vote\nn: 100\noptions: {threshold: 0.9}\nparams: {max_tokens: 99999}\n")
    out = runner.invoke(app, ["serve", "--recipe", str(path)])  # checked before anything loads
    assert out.exit_code == 2 and "n=100" in out.output and "max-n=64" in out.output
    out = runner.invoke(app, ["serve", "--recipe", str(path), "--n", "4", "--option", "threshold=2"])
    assert out.exit_code == 2 and "threshold=2" in out.output  # recipe's strategy, the flag's option value


def test_a_recipe_without_n_gets_the_strategys_own_default():
    assert parse_recipe({"strategy": "greedy"}).n is None  # greedy draws one sample: no n=8 to refuse
    assert parse_recipe({"strategy": "think"}).strategy == "think"


def test_a_recipe_sets_the_instruction_and_the_flag_wins(plugin, tmp_path):
    path = tmp_path / "brief.yaml"
    path.write_text('strategy: vote\nbackend: scripted\nmodel: m\nn: 2\ninstruction: "Be brief; box it."\n')
    rec = load_recipe(str(path))
    assert rec.flags()["instruction"] == "Be brief; box it."
    req = rec.engine().prompter.request_fields(Problem("what?"), chat=True)
    assert req["messages"][-1].content == "what?\n\nBe brief; box it."
    data = tmp_path / "q.jsonl"
    data.write_text('{"question": "q", "answer": "5"}\n')
    for args, want in (([], "Be brief; box it."), (["--instruction", "Answer in \\boxed{}."], "Answer in \\boxed{}.")):
        run = tmp_path / f"run{len(args)}"
        out = runner.invoke(app, ["eval", "-d", str(data), "--recipe", str(path), "-o", str(run), *args])
        assert out.exit_code == 0, out.output
        assert json.loads((run / "run.json").read_text())["instruction"] == want
    with pytest.raises(ConfigError, match="instruction"):
        parse_recipe({"strategy": "vote", "instruction": 3})
