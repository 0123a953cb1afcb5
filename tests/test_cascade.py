"""cascade: the small model's answer when its probe agrees, else the larger model's vote."""

import asyncio
import json

import pytest
from typer.testing import CliRunner

from ponder import ConfigError, Engine, Problem, ScriptedGenerator
from ponder.allocation.cascade import Cascade
from ponder.cli import app


def scripted(p_right_easy, p_right_hard, name="small"):
    """Right ('1') with a probability per kind of question; wrong answers scattered over 2..30."""
    def script(req, i, rng):
        text = req.messages[-1].content if req.messages else req.prompt
        p = p_right_easy if "easy" in text else p_right_hard
        return "so \\boxed{1}" if rng.random() < p else f"so \\boxed{{{rng.randint(2, 30)}}}"
    return ScriptedGenerator(script, name=name)


def test_agreeing_probes_are_kept_and_the_rest_go_to_the_large_model():
    small, large = scripted(1.0, 0.0), scripted(1.0, 0.9, "large")
    eng = Engine(small, Cascade(4, large="big", probe=2, arms={"big": large}), seed=0)
    easy = asyncio.run(eng.asolve(Problem(prompt="an easy one", id="e")))
    assert easy.answer == "1" and len(easy.candidates) == 2 and large.calls == 0
    ev = next(e for e in easy.trace if e["event"] == "cascade")
    assert ev["agreed"] is True and ev["chosen"] is None and ev["probe_answers"] == ["1", "1"]
    # the small model is always wrong on hard ones, over 29 answers: its probes rarely agree
    hards = [asyncio.run(eng.asolve(Problem(prompt=f"a hard one {i}", id=f"h{i}"))) for i in range(10)]
    sent = [r for r in hards if next(e for e in r.trace if e["event"] == "cascade")["agreed"] is False]
    assert len(sent) >= 7 and large.calls == len(sent)
    for r in sent:
        ev = next(e for e in r.trace if e["event"] == "cascade")
        assert ev["chosen"] == {"model": "big", "n": 4, "method": "majority"}
        assert len(r.candidates) == 2 + 4 and r.chosen >= 2  # the large model's samples select
        assert r.usage.completion_tokens == sum(c.tokens for c in r.candidates)  # the probe's tokens count
    assert sum(r.answer == "1" for r in sent) >= len(sent) - 1  # the large model is right 90% a sample


def test_probes_with_no_answer_never_count_as_agreeing():
    small = ScriptedGenerator(lambda req, i, rng: "I am not sure.")
    large = ScriptedGenerator(lambda req, i, rng: "so \\boxed{7}", name="large")
    r = Engine(small, Cascade(2, large="big", probe=3, arms={"big": large}), seed=0).run([Problem("q")])[0]
    assert r.answer == "7" and large.calls == 1


def test_cascade_checks_its_options_and_its_large_model():
    with pytest.raises(ConfigError, match="large="):
        Engine(scripted(1, 1), Cascade(4, large="big"), seed=0)  # not bound
    with pytest.raises(ConfigError, match="probe=0"):
        Cascade(4, large="big", probe=0)
    with pytest.raises(ConfigError, match="method='best'"):
        Cascade(4, large="big", method="best")
    with pytest.raises(ConfigError, match="verifier=None"):  # a score-weighted vote needs scores
        Engine(scripted(1, 1), Cascade(4, large="big", method="weighted", arms={"big": scripted(1, 1)}), seed=0)


def test_the_cli_loads_the_large_model_on_the_same_backend(plugin):
    out = CliRunner().invoke(app, ["ask", "q", "--backend", "scripted", "--strategy", "cascade", "-n", "2",
                                   "--option", "large=large", "--json"])
    assert out.exit_code == 0, out.output  # the strategy's check refuses to run with `large` unbound
    got = json.loads(out.output)
    assert got["strategy"] == "cascade" and got["answer"] == "5"
    assert [e for e in got["trace"] if e["event"] == "cascade"][0]["agreed"] is True
    bad = CliRunner().invoke(app, ["ask", "q", "--backend", "scripted", "--strategy", "cascade",
                                   "--option", "probe=-1", "--option", "large=large"])
    assert bad.exit_code == 2 and "probe=-1" in bad.output


def test_the_server_never_loads_the_large_model_for_a_request(tmp_path):
    import httpx

    from ponder.server.app import ServerConfig, create_app
    from ponder.testing import AppServer

    cfg = ServerConfig(model_name="tiny", strategy="cascade", n=4, options={"large": "big"})
    with pytest.raises(ConfigError, match="arms=\\['big'\\]"):
        create_app(scripted(1.0, 0.0), cfg)
    large = scripted(1.0, 0.9, "large")
    s = AppServer(create_app(scripted(1.0, 0.0), cfg, arms={"big": large}))
    try:
        with httpx.Client(base_url=s.url, timeout=30) as c:
            def ask(text, **ponder):
                body = {"model": "tiny", "messages": [{"role": "user", "content": text}],
                        "ponder": {"return_trace": True, **ponder}}
                r = c.post("/v1/chat/completions", json=body)
                return r.status_code, r.json()

            status, body = ask("an easy one")
            assert status == 200 and large.calls == 0, body
            assert next(e for e in body["ponder"]["trace"] if e["event"] == "cascade")["agreed"] is True
            status, body = ask("a hard one", options={"large": "qwen2.5-coder-1.5b"})  # not loaded: refused
            assert status == 400 and "qwen2.5-coder-1.5b" in body["error"]["message"], body
            assert body["error"]["param"] == "large"
    finally:
        s.stop()
