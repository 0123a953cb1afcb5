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


def test_a_plugin_declares_itself_with_a_spec_like_the_builtins(plugin):
    from ponder.registry import strategy_spec
    from ponder.strategies.spec import Cost

    assert make_strategy("quad", 2).n == 8 and make_strategy("quad", 2, factor=1).n == 2
    with pytest.raises(ConfigError, match="factor='x': must be an integer >= 1"):
        make_strategy("quad", 2, factor="x")
    assert strategy_spec("quad").bound(2, {"factor": 3}, 10) == Cost(6, 60)
    out = CliRunner().invoke(app, ["strategies", "quad"])
    assert out.exit_code == 0 and "factor" in out.output and "samples per unit of N" in out.output
    bare = strategy_spec("triple")  # a bare class still works, its options checked by its signature only
    assert bare.options is None and not bare.server
    with pytest.raises(ConfigError, match="declares no options"):
        bare.bound(2, {}, 10)


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


def test_the_server_serves_a_plugin_strategy_by_name(plugin):
    from fastapi.testclient import TestClient

    from ponder.server.app import ServerConfig, create_app

    gen = make_generator("scripted", "m", answer="9")
    with TestClient(create_app(gen, ServerConfig(model_name="tiny", batch_window_s=0.0))) as client:
        body = {"model": "tiny", "messages": [{"role": "user", "content": "q"}],
                "ponder": {"strategy": "quad", "n": 2, "options": {"factor": 2}}}
        r = client.post("/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text
        info = r.json()["ponder"]
        assert info["strategy"] == "quad" and info["samples"] == 4 and info["answer"] == "9"
        body["ponder"]["options"] = {"colour": "red"}
        r = client.post("/v1/chat/completions", json=body)
        assert r.status_code == 400 and "colour" in r.json()["error"]["message"]
        body["ponder"]["options"] = {"factor": 1000}  # declared count option: bounded like the built-ins
        r = client.post("/v1/chat/completions", json=body)
        assert r.status_code == 400 and r.json()["error"]["param"] == "ponder.options.factor", r.text
        # a bare class declares no cost: the server will not run it
        r = client.post("/v1/chat/completions", json={**body, "ponder": {"strategy": "triple", "n": 2}})
        assert r.status_code == 400 and "cannot bound its work" in r.json()["error"]["message"]
