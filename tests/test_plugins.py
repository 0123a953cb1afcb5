"""Plugins: an installed package's entry points add strategies, verifiers and backends by name."""

import asyncio
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from ponder import ConfigError, Engine, Problem
from ponder.cli import app
from ponder.registry import make_generator, make_strategy, make_verifier


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A real (tiny) installed distribution on sys.path with a dist-info declaring entry points."""
    (tmp_path / "myplug.py").write_text(textwrap.dedent('''
        from ponder.strategies.vote import MajorityVote
        from ponder import ScriptedGenerator
        from ponder.verifiers.confidence import ConfidenceVerifier

        class Triple(MajorityVote):
            name = "triple"
            def __init__(self, n, *, factor=3):
                super().__init__(n * factor)

        def judge(generator):
            return ConfidenceVerifier("mean")

        def backend(model, *, answer="5"):
            return ScriptedGenerator([f"so \\\\boxed{{{answer}}}"], name=f"plug:{model}")

        def broken(n):
            raise RuntimeError("never")
    '''))
    dist = tmp_path / "myplug-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent("""
        [ponder.strategies]
        triple = myplug:Triple
        missing = myplug:NoSuchThing
        [ponder.verifiers]
        my-judge = myplug:judge
        [ponder.backends]
        scripted = myplug:backend
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("myplug", None)


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
