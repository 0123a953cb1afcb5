"""One declaration per strategy: options typed and checked from it, help, cost bounds, file and budget
options, all read off the `StrategySpec`s (no model needed)."""

import pytest
from typer.testing import CliRunner

from ponder.cli import app
from ponder.errors import ConfigError
from ponder.registry import (
    builtin_strategies,
    default_n,
    default_verifier,
    is_budget,
    make_strategy,
    names_a_file,
    request_safe_verifiers,
    strategy_spec,
)
from ponder.strategies.spec import Cost


def test_every_builtin_strategy_declares_itself_completely():
    specs = builtin_strategies()
    assert {"greedy", "vote", "beam", "auto", "route", "cascade", "revise", "policy", "think"} <= set(specs)
    for name, spec in specs.items():
        assert spec.name == name and spec.summary and spec.n_means and spec.options is not None
        assert spec.build.name == name  # the class says the same name
        for opt, kind, text in spec.option_help():
            assert kind and text, (name, opt)


@pytest.mark.parametrize("name,options,needle", [
    ("deepconf", {"keep": "0.9"}, "keep='0.9': must be a number in (0, 1]"),
    ("deepconf", {"top_k": "x"}, "top_k='x': must be an integer in [1, 20]"),
    ("beam", {"max_steps": True}, "max_steps=True: must be an integer >= 1"),
    ("beam", {"width": 2.5}, "width=2.5: must be an integer >= 1"),
    ("beam", {"aggregate": "median"}, "aggregate='median': must be one of 'last', 'min', 'prod', 'mean'"),
    ("adaptive-vote", {"threshold": 2}, "threshold=2: must be a number in (0.5, 1)"),
    ("adaptive-vote", {"weighted": 1}, "weighted=1: must be true or false"),
    ("cascade", {"probe": 0, "large": "x"}, "probe=0: must be an integer >= 1"),
    ("route", {"table": ["a"]}, "table=['a']: must be a file path"),
    ("vote", {"batch": 2}, "batch=2: is not an option of strategy 'vote' (options: none)"),
    ("auto", {"colour": "red"}, "colour='red': is not an option of strategy 'auto' (options: batch, rule,"),
])
def test_option_errors_name_the_option_its_value_and_what_it_must_be(name, options, needle):
    with pytest.raises(ConfigError) as e:
        make_strategy(name, 8, **options)
    assert needle in str(e.value)


@pytest.mark.parametrize("name,needle", [
    ("route", "table=None: route needs --option table=FILE (written by ponder fit-route)"),
    ("cascade", "large=None: cascade needs --option large=MODEL"),
    ("policy", "policy=None: policy needs --option policy=FILE (written by ponder fit-policy)"),
])
def test_a_missing_required_option_says_what_to_do(name, needle):
    with pytest.raises(ConfigError) as e:
        make_strategy(name, 8)
    assert needle in str(e.value)


def test_defaults_flags_and_wiring_come_from_the_declarations():
    assert default_n("greedy") == 1 and default_n("vote") == 8 and default_n("auto") == 16
    assert make_strategy("greedy").n == 1
    with pytest.raises(ConfigError, match="n=4: greedy draws exactly 1"):
        make_strategy("greedy", 4)
    assert default_verifier("beam") == "llm-prm" and default_verifier("best-of-n") == "confidence"
    assert default_verifier("vote") is None
    assert names_a_file("auto", "rule") and names_a_file("route", "table") and not names_a_file("auto", "batch")
    assert names_a_file("adaptive-vote", "rule") is False  # a rule *name* there (beta, esc), not a file
    assert is_budget("route", "flops") and is_budget("route", "mean_flops") and not is_budget("route", "table")
    assert strategy_spec("route").models and strategy_spec("cascade").models and not strategy_spec("vote").models
    assert strategy_spec("auto").pool == "tokens" and strategy_spec("route").pool == "flops"
    assert not strategy_spec("route").server and strategy_spec("vote").server
    with pytest.raises(ConfigError, match="pool=.*takes no run-wide budget"):
        from ponder.allocation.pools import TokenPool

        make_strategy("vote", 4, pool=TokenPool(100, 2))
    assert "reference" not in request_safe_verifiers() and "judge" in request_safe_verifiers()


def test_cost_bounds_grow_with_what_multiplies_the_work():
    vote = strategy_spec("vote").bound(8, {}, 512)
    assert vote == Cost(samples=8, tokens=8 * 512)
    beam = strategy_spec("beam").bound(8, {"max_steps": 5, "step_tokens": 100}, 512)
    assert beam.samples == 40 and beam.tokens == 8 * 5 * 100
    cascade = strategy_spec("cascade").bound(4, {"large": "big", "probe": 1000}, 100)
    assert cascade.samples == 1004 and cascade.arm_tokens == 400  # the probe counts: no way around the cap
    think = strategy_spec("think").bound(2, {"budget": 50, "answer_tokens": 10, "max_extensions": 3}, 512)
    assert think.tokens == 2 * 60 and think.samples == 2 * 5
    revise = strategy_spec("revise").bound(4, {"mode": "critique", "critique_tokens": 16}, 100)
    assert revise.samples == 8 and revise.tokens == 400 + 64
    for name, spec in builtin_strategies().items():  # every strategy bounds its defaults
        required = {"route": {"table": "t.json"}, "cascade": {"large": "m"}, "policy": {"policy": "p.json"}}
        cost = spec.bound(spec.default_n, required.get(name, {}), 256)
        assert cost.samples >= 1 and cost.tokens >= 256, name


def test_cli_lists_strategies_and_their_options():
    runner = CliRunner()
    out = runner.invoke(app, ["strategies"])
    assert out.exit_code == 0
    for name in builtin_strategies():
        assert name in out.output
    one = runner.invoke(app, ["strategies", "deepconf"])
    assert one.exit_code == 0 and "keep" in one.output and "(0, 1]" in one.output
    bad = runner.invoke(app, ["strategies", "nope"])
    assert bad.exit_code == 2 and "strategy='nope'" in bad.output
    md = runner.invoke(app, ["strategies", "--markdown"])
    assert md.output.startswith("| strategy | what it does |") and "| `max_steps` |" in md.output
    ask_help = runner.invoke(app, ["ask", "--help"], terminal_width=400)
    for name in ("revise", "cascade", "policy", "think"):  # the help is generated: none is missing
        assert name in ask_help.output


def test_the_readme_strategy_table_is_the_generated_one():
    from pathlib import Path

    from ponder.cli.strategies import strategies_markdown

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = strategies_markdown().split("\n\n")[0]
    assert table in readme, "README's strategy table is stale: paste `ponder strategies --markdown`'s first table"


def test_the_readme_backend_matrix_is_the_generated_one():
    from pathlib import Path

    from ponder.registry import backends_markdown

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert backends_markdown() in readme, "README's backend matrix is stale: paste `ponder backends --markdown`"
