"""Plugins: an installed package's entry points add strategies, verifiers and backends by name."""

import asyncio

import pytest
from typer.testing import CliRunner

from ponder import ConfigError, Engine, Problem
from ponder.cli import app
from ponder.registry import make_generator, make_strategy, make_verifier


def test_entry_points_add_a_strategy_a_verifier_and_a_backend(plugin):
    strat = make_strategy("triple", 2, factor=2)
    assert strat.n == 4
    gen = make_generator("scripted", "m", answer="9")
    assert gen.name == "plug:m"
    assert make_verifier("my-judge", gen).name.startswith("confidence")
    r = asyncio.run(Engine(gen, strat, make_verifier("my-judge", gen)).asolve(Problem(prompt="q")))
    assert r.answer == "9" and len(r.candidates) == 4


def test_plugin_errors_name_what_is_wrong(plugin):
    with pytest.raises(ConfigError, match="colour=.*not an option of strategy 'triple' \\(options: factor\\)"):
        make_strategy("triple", 2, colour="red")
    with pytest.raises(ConfigError, match="strategy='missing'.*failed to load"):
        make_strategy("missing", 2)
    with pytest.raises(ConfigError, match="strategy='nope'.*triple"):  # the known list names plugins too
        make_strategy("nope", 2)


def test_builtin_option_errors_list_the_options():
    with pytest.raises(ConfigError, match="colour='red': is not an option of strategy 'adaptive-vote'.*threshold"):
        make_strategy("adaptive-vote", 8, colour="red")
    with pytest.raises(ConfigError, match="threshold='0.9'"):  # a wrong type is the option's own error
        make_strategy("adaptive-vote", 8, threshold="0.9")


def test_the_cli_runs_a_plugin_strategy_on_a_plugin_backend(plugin):
    out = CliRunner().invoke(app, ["ask", "q", "--backend", "scripted", "-m", "m", "--strategy", "triple",
                                   "--n", "2", "--option", "factor=1", "--json"])
    assert out.exit_code == 0, out.output
    assert '"answer": "5"' in out.output
