"""optillm clients unchanged against `ponder serve`: approach by model-name prefix or `optillm_approach`,
driven by the official openai client over loopback."""

import openai
import pytest

from ponder import Scripted, ScriptedGenerator
from ponder.prompts import CRITIQUE_INSTRUCTION, REREAD
from ponder.server.app import ServerConfig, create_app
from ponder.server.optillm import APPROACHES, split_model
from ponder.testing import AppServer


def script(req, i, rng):
    if req.messages and req.messages[-1].content == CRITIQUE_INSTRUCTION:
        return Scripted("Looks wrong.", -0.2)
    return Scripted(f"Sample {i}: the answer is \\boxed{{{42 if i % 4 else 41}}}", -0.3)


@pytest.fixture(scope="module")
def served():
    gen = ScriptedGenerator(script)
    cfg = ServerConfig(model_name="qwen-0.5b", api_keys=("sk-test",), n=4, max_n=16, batch_window_s=0.0)
    s = AppServer(create_app(gen, cfg))
    s.gen = gen
    s.client = openai.OpenAI(base_url=s.url + "/v1", api_key="sk-test", max_retries=0)
    yield s
    s.client.close()
    s.stop()


def ask(served, model, **kw):
    n0 = len(served.gen.requests)
    r = served.client.chat.completions.create(model=model, messages=[{"role": "user", "content": "What is 6*7?"}],
                                              **kw)
    return r, r.model_extra["ponder"], served.gen.requests[n0:]


def test_self_consistency_prefix_votes_over_the_server_default_n(served):
    r, info, reqs = ask(served, "self_consistency-qwen-0.5b")
    assert info["strategy"] == "vote" and info["samples"] == 4 and info["answer"] == "42"
    assert r.model == "self_consistency-qwen-0.5b" and "\\boxed{42}" in r.choices[0].message.content


def test_re2_repeats_the_question_once(served):
    _, info, reqs = ask(served, "re2-qwen-0.5b")
    assert info["strategy"] == "vote" and info["samples"] == 1
    assert [m.content for m in reqs[0].messages] == [f"What is 6*7?{REREAD}What is 6*7?"]


def test_the_body_field_names_the_approach(served):
    _, info, reqs = ask(served, "qwen-0.5b", extra_body={"optillm_approach": "re2"})
    assert info["samples"] == 1 and REREAD in reqs[0].messages[-1].content


def test_bon_and_mcts_and_cot_reflection_map_to_ponder_strategies(served):
    _, info, _ = ask(served, "bon-qwen-0.5b", extra_body={"ponder": {"return_trace": True}})
    assert info["strategy"] == "best-of-n" and any(e["event"] == "score" and e["verifier"].startswith("judge")
                                                   for e in info["trace"])
    _, info, reqs = ask(served, "cot_reflection-qwen-0.5b")
    assert info["strategy"] == "revise" and info["samples"] == 2
    assert any(r.messages[-1].content == CRITIQUE_INSTRUCTION for r in reqs)
    _, info, _ = ask(served, "mcts-qwen-0.5b", max_tokens=32)
    assert info["strategy"] == "mcts"


def test_ponder_fields_still_win(served):
    _, info, _ = ask(served, "self_consistency-qwen-0.5b", extra_body={"ponder": {"n": 6}})
    assert info["samples"] == 6
    # bon's judge can be swapped for ponder's own scorer (no judge calls: one request for the samples)
    _, info, reqs = ask(served, "bon-qwen-0.5b",
                        extra_body={"ponder": {"verifier": "confidence", "return_trace": True}})
    scored = [e["verifier"] for e in info["trace"] if e["event"] == "score"]
    assert info["strategy"] == "best-of-n" and scored and not any(v.startswith("judge") for v in scored)
    assert len(reqs) == 1


@pytest.mark.parametrize("model,extra,param,name", [
    ("moa-qwen-0.5b", None, "model", "moa"),
    ("bon&re2-qwen-0.5b", None, "model", "bon&re2"),
    ("qwen-0.5b", {"optillm_approach": "plansearch"}, "optillm_approach", "plansearch"),
])
def test_unknown_approaches_are_a_400_naming_the_supported_ones(served, model, extra, param, name):
    with pytest.raises(openai.BadRequestError) as e:
        ask(served, model, extra_body=extra)
    err = e.value.body
    assert err["param"] == param and err["code"] == "unsupported_approach"
    assert repr(name) in err["message"] and all(a in err["message"] for a in APPROACHES)


def test_a_model_that_is_not_served_is_still_a_404(served):
    with pytest.raises(openai.NotFoundError):
        ask(served, "gpt-4o")


def test_split_model():
    assert split_model("self_consistency-my-model", ("my-model", "ponder")) == ("self_consistency", "my-model")
    assert split_model("my-model", ("my-model",)) is None and split_model("-my-model", ("my-model",)) is None
