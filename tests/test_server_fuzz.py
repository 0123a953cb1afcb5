"""A fuzz of every strategy a request may name × its declared options (in range, out of range, wrong
type, huge) against the server on the scripted backend: never a 5xx, and the work a request does never
exceeds the bound the server admitted it at (sequences drawn, tokens generated, FLOPs)."""

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ponder import ScriptedGenerator
from ponder.registry import builtin_strategies
from ponder.server.app import ServerConfig, create_app

SERVED = [name for name, spec in builtin_strategies().items() if spec.server]
LONG = " ".join(f"w{i}" for i in range(60))
SCRIPT = ["so \\boxed{5}", "first step\n\nthen \\boxed{7}", f"{LONG}\n\n{LONG} \\boxed{5}", "no answer at all"]


def option_values(name):
    spec = builtin_strategies()[name]
    fields = spec.options.model_fields if spec.options else {}
    value = st.one_of(st.integers(-5, 40), st.integers(10**6, 10**12),
                      st.floats(allow_nan=False, allow_infinity=False, width=32), st.booleans(), st.text(max_size=6),
                      st.none(), st.sampled_from(["last", "offline", "esc"]))
    if not fields:
        return st.just({})
    return st.dictionaries(st.sampled_from([*fields, "colour"]), value, max_size=3)


request = st.sampled_from(SERVED).flatmap(lambda name: st.tuples(
    st.just(name), st.integers(-1, 70), option_values(name), st.sampled_from([None, 1, 8, 64, 5000]),
    st.sampled_from([None, "none", "confidence", "judge", "llm-prm", "reference"])))


def in_range(f):
    """Values the option's declaration allows (small counts, so requests run), from its type and bounds."""
    import typing

    import annotated_types

    ann = f.annotation
    args = [a for a in typing.get_args(ann) if a is not type(None)] or [ann]
    kind = args[0]
    if typing.get_origin(kind) is typing.Literal:
        return st.sampled_from(typing.get_args(kind))
    if kind is bool:
        return st.booleans()
    lo = hi = None
    lo_open = hi_open = False
    for m in f.metadata:
        if isinstance(m, annotated_types.Ge):
            lo = m.ge
        elif isinstance(m, annotated_types.Gt):
            lo, lo_open = m.gt, True
        elif isinstance(m, annotated_types.Le):
            hi = m.le
        elif isinstance(m, annotated_types.Lt):
            hi, hi_open = m.lt, True
    if kind is int:
        start = int(lo or 0) + (1 if lo_open else 0)
        return st.integers(start, min(int(hi) if hi is not None else start + 5, start + 5))
    if kind is float:
        lo = 0.0 if lo is None else lo
        return st.floats(lo, hi if hi is not None else lo + 3, exclude_min=lo_open, exclude_max=hi_open)
    return st.just(f.default)  # strings (tags, separators): their defaults


def valid_options(name):
    spec = builtin_strategies()[name]
    fields = {k: f for k, f in spec.options.model_fields.items()
              if not (f.json_schema_extra or {}).get("file") and not f.is_required()}
    if not fields:
        return st.just({})
    return st.fixed_dictionaries({}, optional={k: in_range(f) for k, f in fields.items()})


valid_request = st.sampled_from(SERVED).flatmap(lambda name: st.tuples(
    st.just(name), st.sampled_from([1, 2, 4, 8, 16]), valid_options(name), st.sampled_from([8, 16, 64]),
    st.sampled_from([None, None, "confidence", "judge"])))


def served():
    gen = ScriptedGenerator(SCRIPT, parameters=1e8)
    cfg = ServerConfig(model_name="tiny", batch_window_s=0, max_n=16, max_tokens=64, max_samples=400,
                       max_request_tokens=40_000, max_flops=2e13, request_timeout_s=60)
    return gen, TestClient(create_app(gen, cfg))


GEN, CLIENT = served()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(request, valid_request))
def test_no_request_gets_a_5xx_or_spends_past_its_bound(req):
    name, n, options, max_tokens, verifier = req
    body = {"model": "tiny", "messages": [{"role": "user", "content": "what is 2 + 3?"}],
            "ponder": {"strategy": name, "n": n, "options": options, "verifier": verifier}}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    before = len(GEN.requests)
    r = CLIENT.post("/v1/chat/completions", json=body)
    assert r.status_code < 500, (req, r.text)
    if r.status_code != 200:
        assert r.json()["error"]["message"] and len(GEN.requests) == before  # refused before any work
        return
    out = r.json()
    bound = out["ponder"]["bound"]
    sent = GEN.requests[before:]
    strategy_seqs = sum(q.n for q in sent if not _verifier_request(q))
    assert strategy_seqs <= bound["samples"], (req, strategy_seqs, bound)
    assert out["usage"]["completion_tokens"] <= bound["tokens"], (req, out["usage"], bound)


def _verifier_request(q):
    """The judge and LLM-as-PRM ask short yes/no questions: they are priced in the bound's tokens."""
    text = " ".join(m.content for m in (q.messages or ())) + (q.prompt or "")
    return "correct" in text.lower() and q.params.max_tokens <= 8
