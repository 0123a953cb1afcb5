"""PRM / ORM loaders proven on tiny, randomly initialised transformers models built here (no hub)."""

import asyncio

import httpx
import pytest

from ponder import ModelNotFoundError, Problem, RetryableBackendError
from ponder.types import Candidate
from tinyhf import VOCAB
from tinyhf import tiny as _tiny

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

P = Problem(prompt="What is 2 + 2 ?", answer="4")
def tiny(tmp_path, cls, **extra):
    return _tiny(tmp_path, transformers, torch, cls, **extra)


def manual(path, cls, text, pick):
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = cls.from_pretrained(path).eval()
    enc = tok(text, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits[0]
    return pick(enc["input_ids"][0], logits)


def test_step_tag_causal_prm(tmp_path):
    from ponder.verifiers.prm import TransformersPRM

    path = tiny(tmp_path, transformers.LlamaForCausalLM)
    prm = TransformersPRM(str(path))
    assert prm.format == "step-tag"
    sols = [["step one", "step two so the answer is 4"], ["step one"]]
    got = asyncio.run(prm.score_steps(P, sols))
    assert [len(v) for v in got.values] == [2, 1]
    text = prm.render(P.question, sols[0])
    assert text.count(" ки\n") == 2

    def pick(ids, logits):
        pos = (ids == VOCAB.index("ки")).nonzero().flatten()
        pair = logits[pos][:, [VOCAB.index("+"), VOCAB.index("-")]]
        return torch.softmax(pair, -1)[:, 0].tolist()

    assert got.values[0] == pytest.approx(pick_values := manual(path, transformers.AutoModelForCausalLM, text, pick))
    assert all(0 < v < 1 for v in pick_values)
    last = asyncio.run(prm.score_steps(P, sols[:1], last_only=True))
    assert last.values[0] == pytest.approx(got.values[0][-1:])
    # as an outcome verifier: split into steps, aggregate
    s = asyncio.run(prm.score(P, [Candidate("step one\n\nstep two so the answer is 4", "4")]))
    assert s.values[0] == pytest.approx(got.values[0][-1])


def test_token_classification_prm(tmp_path):
    from ponder.verifiers.prm import TransformersPRM

    path = tiny(tmp_path, transformers.LlamaForTokenClassification, num_labels=2)
    prm = TransformersPRM(str(path), aggregate="min")
    assert prm.format == "token-class"
    steps = ["step one", "step two", "so the answer is 4"]
    got = asyncio.run(prm.score_steps(P, [steps]))
    text = prm.render(P.question, steps)

    def pick(ids, logits):
        pos = (ids == VOCAB.index("<extra_0>")).nonzero().flatten()[1:]
        return torch.softmax(logits[pos], -1)[:, 1].tolist()

    assert list(got.values[0]) == pytest.approx(manual(path, transformers.AutoModelForTokenClassification, text, pick))
    s = asyncio.run(prm.score(P, [Candidate("\n\n".join(steps), "4")]))
    assert s.values[0] == pytest.approx(min(got.values[0]))


def test_orm(tmp_path):
    from ponder.verifiers.prm import ORM

    path = tiny(tmp_path, transformers.LlamaForSequenceClassification, num_labels=1)
    orm = ORM(str(path))
    s = asyncio.run(orm.score(P, [Candidate("so the answer is 4", "4"), Candidate("step one", None)]))
    assert len(s.values) == 2 and all(0 < v < 1 for v in s.values)
    text = orm.template.format(question=P.question, solution="so the answer is 4")
    want = manual(path, transformers.AutoModelForSequenceClassification, text,
                  lambda ids, logits: torch.sigmoid(logits[-1]).item())
    assert s.values[0] == pytest.approx(want)


def test_registry_names_and_missing_models(tmp_path):
    from ponder import ScriptedGenerator, make_verifier

    path = tiny(tmp_path, transformers.LlamaForCausalLM)
    v = make_verifier(f"prm:{path}", ScriptedGenerator(["x"]))
    assert v.name == f"prm:{path}"
    with pytest.raises(ModelNotFoundError, match="no such directory"):
        make_verifier(f"prm:{tmp_path}/missing/model", ScriptedGenerator(["x"]))


def test_beam_search_with_a_tiny_prm(tmp_path):
    from ponder import Engine, ScriptedGenerator
    from ponder.strategies.beam import BeamSearch
    from ponder.verifiers.prm import TransformersPRM

    gen = ScriptedGenerator(lambda r, i, rng: rng.choice(["step one\n\nx", "step two\n\nx", "so the answer is 4"]))
    res = asyncio.run(Engine(gen, BeamSearch(4, width=2, max_steps=3), TransformersPRM(str(tiny(
        tmp_path, transformers.LlamaForCausalLM))), seed=0).asolve(P))
    scores = [nd["score"] for e in res.trace if e["event"] == "expand" for nd in e["nodes"]]
    assert scores and all(0 < s < 1 for s in scores)


def test_http_prm_with_retries():
    from ponder.backends.http import RetryPolicy
    from ponder.verifiers.http_prm import HTTPPRM

    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(503, text="warming up")
        body = request.read().decode()
        n = body.count("<extra_0>") - 1
        return httpx.Response(200, json={"data": [{"data": [[0.3, 0.7]] * n}]})

    prm = HTTPPRM("http://prm.test/v1", model="qwen-prm", transport=httpx.MockTransport(handler),
                  policy=RetryPolicy(backoff_s=0.0))
    got = asyncio.run(prm.score_steps(P, [["step one", "step two"]]))
    assert got.values == ((0.7, 0.7),)
    assert any(e["event"] == "retry" for e in prm.events)
    assert str(calls[-1].url) == "http://prm.test/v1/pooling"

    down = HTTPPRM("http://prm.test/v1", model="m", policy=RetryPolicy(max_retries=1, backoff_s=0.0),
                   transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    with pytest.raises(RetryableBackendError):
        asyncio.run(down.score_steps(P, [["a"]]))
