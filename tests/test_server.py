"""The OpenAI-compatible server, driven by the official `openai` client over loopback."""

import concurrent.futures
import json

import httpx
import openai
import pytest

from ponder import ConfigError, FatalBackendError, Scripted, ScriptedGenerator
from ponder.params import SamplingParams
from ponder.server.app import ServerConfig, create_app
from ponder.testing import AppServer


def script(req, i, rng):
    return Scripted(f"Sample {i}: the answer is \\boxed{{{42 if i % 4 else 41}}}", -0.3)


class Served(AppServer):
    def client(self, key="sk-test", **kw):
        c = openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, **kw)
        self.__dict__.setdefault("clients", []).append(c)
        return c

    def stop(self):
        for c in self.__dict__.get("clients", []):
            c.close()
        super().stop()


@pytest.fixture(scope="module")
def served():
    gen = ScriptedGenerator(script, delay_s=0.02)
    cfg = ServerConfig(model_name="tiny", api_keys=("sk-test",), max_n=16, max_tokens=256, batch_window_s=0.1)
    s = Served(create_app(gen, cfg))
    s.gen = gen
    s.app_cfg = cfg
    yield s
    s.stop()


def ask(client, **kw):
    return client.chat.completions.create(model=kw.pop("model", "tiny"),
                                          messages=[{"role": "user", "content": "What is 6*7?"}], **kw)


def test_chat_votes_and_sums_usage(served):
    r = ask(served.client())
    extra = r.model_extra["ponder"]
    assert extra["strategy"] == "vote" and extra["samples"] == 4 and extra["answer"] == "42"
    assert extra["votes"] == {"42": 3, "41": 1}
    assert "\\boxed{42}" in r.choices[0].message.content
    assert r.usage.completion_tokens == sum(len(script(None, i, None).text.split()) for i in range(4))
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_strategy_from_extra_body_with_trace(served):
    r = ask(served.client(), extra_body={"ponder": {"strategy": "best-of-n", "n": 3, "verifier": "confidence-mean",
                                                   "return_trace": True}})
    extra = r.model_extra["ponder"]
    assert extra["strategy"] == "best-of-n" and extra["samples"] == 3
    assert any(e["event"] == "score" for e in extra["trace"])
    assert len(extra["candidates"]) == 3


def test_strategy_from_model_prefix(served):
    r = ask(served.client(), model="vote-8/tiny")
    assert r.model_extra["ponder"]["samples"] == 8
    r = ask(served.client(), model="greedy/tiny")
    assert r.model_extra["ponder"]["samples"] == 1


def test_completions_send_the_raw_prompt(served):
    r = served.client().completions.create(model="vote-2/tiny", prompt="Q: 6*7=", max_tokens=16, temperature=0.5)
    assert r.choices[0].text.startswith("Sample")
    req = next(q for q in reversed(served.gen.requests) if q.prompt is not None)
    assert req.prompt == "Q: 6*7=" and req.params.max_tokens == 16 and req.params.temperature == 0.5


def test_streaming_with_the_official_client(served):
    stream = ask(served.client(), stream=True, model="vote-4/tiny")
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "\\boxed{42}" in text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)


def test_streaming_sends_progress_before_the_answer():
    gen = ScriptedGenerator(script, delay_s=0.6)
    s = Served(create_app(gen, ServerConfig(model_name="tiny")))
    try:
        with httpx.stream("POST", s.url + "/v1/chat/completions", timeout=30,
                          json={"model": "tiny", "stream": True, "messages": [{"role": "user", "content": "q"}]}) as r:
            events = [json.loads(line[6:]) for line in r.iter_lines()
                      if line.startswith("data: ") and line != "data: [DONE]"]
    finally:
        s.stop()
    first_content = next(i for i, e in enumerate(events) if e["choices"] and e["choices"][0]["delta"].get("content"))
    assert any("progress" in e.get("ponder", {}) for e in events[:first_content])
    assert events[-1]["usage"]["completion_tokens"] > 0


@pytest.mark.parametrize("kw,status,param", [
    ({"model": "gpt-9"}, 404, "model"),
    ({"model": "vote-4/gpt-9"}, 404, "model"),
    ({"temperature": 0.0}, 400, "temperature"),
    ({"extra_body": {"ponder": {"n": 99}}}, 400, "ponder.n"),
    ({"max_tokens": 100000}, 400, "max_tokens"),
    ({"extra_body": {"ponder": {"strategy": "magic"}}}, 400, "strategy"),
    ({"extra_body": {"ponder": {"verifier": "psychic"}}}, 400, "ponder.verifier"),
    ({"n": 3}, 400, "n"),
])
def test_errors_have_the_openai_shape_and_status(served, kw, status, param):
    with pytest.raises(openai.APIStatusError) as e:
        ask(served.client(), **kw)
    assert e.value.status_code == status
    assert e.value.body["param"] == param and e.value.body["message"]


def test_auth_and_body_limits(served):
    with pytest.raises(openai.AuthenticationError):
        ask(served.client(key="wrong"))
    r = httpx.post(served.url + "/v1/chat/completions", headers={"authorization": "Bearer sk-test"},
                   content=b"{" + b" " * (2 << 20) + b"}")
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    r = httpx.post(served.url + "/v1/chat/completions", headers={"authorization": "Bearer sk-test"},
                   json={"model": "tiny"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages"
    assert httpx.get(served.url + "/health").json()["status"] == "ok"  # open without a key


def test_upstream_failure_is_502_without_a_stack_trace():
    gen = ScriptedGenerator(script, errors=[FatalBackendError("upstream said 400")])
    s = Served(create_app(gen, ServerConfig(model_name="tiny")))
    try:
        with pytest.raises(openai.APIStatusError) as e:
            ask(s.client())
        assert e.value.status_code == 502 and "Traceback" not in str(e.value.body)
    finally:
        s.stop()


def test_server_settings_are_validated_where_they_are_made():
    from ponder.params import Budget

    for kw, name in (({"max_inflight": 0}, "max_inflight"), ({"max_n": 2, "n": 4}, "n"),
                     ({"request_timeout_s": -1}, "request_timeout_s"), ({"batch_window_s": "fast"}, "batch_window_s"),
                     ({"max_body_bytes": 1.5}, "max_body_bytes")):
        with pytest.raises(ConfigError, match=f"{name}="):
            ServerConfig(**kw)
    with pytest.raises(ConfigError, match="token=5.*not a budget limit"):
        Budget(tokens=10).merge(token=5)
    assert Budget(tokens=10).merge(tokens=5, wall_s=None) == Budget(tokens=5)


def test_concurrent_requests_are_batched_and_settings_never_shared(served):
    client = served.client()
    temps = [0.2 + 0.1 * i for i in range(8)]
    before = len(served.gen.requests)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda t: ask(client, temperature=t, model="vote-2/tiny"), temps))
    seen = sorted(round(r.params.temperature, 3) for r in served.gen.requests[before:])
    assert seen == [round(t, 3) for t in temps]  # each request kept its own settings
    assert served.app_cfg.params == SamplingParams(max_tokens=512)  # defaults untouched
    assert httpx.get(served.url + "/metrics").status_code == 401  # the server's traffic needs the key too
    metrics = httpx.get(served.url + "/metrics", headers={"authorization": "Bearer sk-test"}).text
    assert "ponder_requests_total" in metrics and "ponder_backend_batch_requests_bucket" in metrics
    # with a 100 ms window, some of the 8 concurrent requests shared a backend call
    assert max(served.app.state.ponder.generator.batches) > 1


def test_requests_without_a_seed_get_fresh_seeds_and_a_sent_seed_is_kept(served):
    def seeds_of(**kw):
        before = len(served.gen.requests)
        ask(served.client(), **kw)
        return {r.seed for r in served.gen.requests[before:]}

    a, b = seeds_of(), seeds_of()
    assert len(a) == len(b) == 1 and a != b  # identical requests, different samples
    assert seeds_of(seed=7) == seeds_of(seed=7)  # the client's seed decides


@pytest.mark.parametrize("field", ["max_completion_tokens", "max_tokens"])
def test_zero_max_tokens_is_a_400_naming_the_field(served, field):
    r = httpx.post(served.url + "/v1/chat/completions", headers={"Authorization": "Bearer sk-test"},
                   json={"model": "tiny", "messages": [{"role": "user", "content": "hi"}], field: 0})
    assert r.status_code == 400 and r.json()["error"]["param"] == field


@pytest.mark.parametrize("method,path,body,status,code,param", [
    ("GET", "/v1/no-such-route", None, 404, "not_found", None),
    ("DELETE", "/v1/chat/completions", None, 405, "method_not_allowed", None),
    ("POST", "/v1/chat/completions", b'{"model": "tiny", "messages": [', 400, "invalid_json", None),
    ("POST", "/v1/chat/completions", b'[1, 2]', 400, "invalid_json", None),
    ("POST", "/v1/chat/completions",
     {"model": "tiny", "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
     400, "invalid_parameter", "messages.content"),
])
def test_every_error_has_the_openai_shape(served, method, path, body, status, code, param):
    kw = {"content": body} if isinstance(body, bytes) else {"json": body} if body is not None else {}
    headers = {"Authorization": "Bearer sk-test", "Content-Type": "application/json"}
    r = httpx.request(method, served.url + path, headers=headers, **kw)
    assert r.status_code == status
    err = r.json()["error"]  # never FastAPI's {"detail": ...}
    assert err["code"] == code and err["param"] == param and err["message"] and err["type"]


def _bodies():
    from hypothesis import strategies as st

    scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40),
                       st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
    value = st.recursive(scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                         max_leaves=6)
    message = st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant", "tool", 7]),
                                     "content": value})
    return st.fixed_dictionaries(
        {"model": st.one_of(st.just("tiny"), st.just("vote-2/tiny"), value)},
        optional={"messages": st.one_of(st.lists(message, max_size=3), value), "temperature": value,
                  "top_p": value, "max_tokens": value, "max_completion_tokens": value, "n": value,
                  "seed": value, "stop": value, "stream": st.booleans(),
                  "ponder": st.one_of(value, st.fixed_dictionaries(
                      {}, optional={"strategy": value, "n": value, "verifier": value, "budget": value}))})


def test_fuzzed_request_bodies_never_get_a_5xx():
    """Any JSON body: a 2xx, or a 4xx in OpenAI's error shape; never a server error."""
    from fastapi.testclient import TestClient
    from hypothesis import HealthCheck, given, settings

    app = create_app(ScriptedGenerator(script), ServerConfig(model_name="tiny", max_n=8, max_tokens=64,
                                                             batch_window_s=0.0))
    client = TestClient(app)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_bodies())
    def check(body):
        r = client.post("/v1/chat/completions", json=body)
        assert r.status_code < 500, (body, r.text)
        if r.status_code >= 400:
            err = r.json()["error"]
            assert err["message"] and err["type"]

    check()


def test_metrics_labels_are_route_templates_and_rejections_are_counted():
    from fastapi.testclient import TestClient

    client = TestClient(create_app(ScriptedGenerator(script), ServerConfig(model_name="tiny", api_keys=("k",))))
    for i in range(50):
        client.get(f"/v1/junk-{i}", headers={"Authorization": "Bearer k"})
    client.post("/v1/chat/completions", json={"model": "tiny"})  # no key: 401
    text = client.get("/metrics", headers={"Authorization": "Bearer k"}).text
    assert "junk" not in text and 'endpoint="unmatched",status="404"} 50.0' in text
    assert 'endpoint="/v1/chat/completions",status="401"} 1.0' in text


@pytest.mark.parametrize("verifier", ["prm:/etc", "orm:some-org/some-reward-model", "reference"])
def test_requests_cannot_make_the_server_load_or_use_what_the_operator_did_not_allow(served, verifier, monkeypatch):
    import ponder.verifiers.prm as prm

    def never(*a, **k):
        raise AssertionError("a request made the server load a model")

    monkeypatch.setattr(prm.TransformersPRM, "__init__", never)
    monkeypatch.setattr(prm.ORM, "__init__", never)
    with pytest.raises(openai.BadRequestError) as e:
        ask(served.client(), extra_body={"ponder": {"strategy": "best-of-n", "n": 2, "verifier": verifier}})
    assert e.value.body["param"] == "ponder.verifier" and "not allowed" in e.value.body["message"]


def test_operator_allowed_model_verifiers_load_once_at_start_and_strategies_can_be_limited(monkeypatch):
    from fastapi.testclient import TestClient

    import ponder.verifiers.prm as prm
    from ponder import ScriptedVerifier

    loads = []

    class FakeORM(ScriptedVerifier):
        def __init__(self, model, **kw):
            loads.append(model)
            super().__init__(lambda problem, cand: 0.5)

    monkeypatch.setattr(prm, "ORM", FakeORM)
    cfg = ServerConfig(model_name="tiny", verifiers=("confidence", "orm:my/rm"), strategies=("vote", "best-of-n"))
    client = TestClient(create_app(ScriptedGenerator(script), cfg))
    assert loads == ["my/rm"]  # at start-up
    body = {"model": "tiny", "messages": [{"role": "user", "content": "6*7?"}],
            "ponder": {"strategy": "best-of-n", "n": 2, "verifier": "orm:my/rm"}}
    for _ in range(2):
        assert client.post("/v1/chat/completions", json=body).status_code == 200
    assert loads == ["my/rm"]  # never per request
    r = client.post("/v1/chat/completions", json={**body, "ponder": {"strategy": "mcts", "n": 2}})
    assert r.status_code == 400 and r.json()["error"]["param"] == "ponder.strategy"
    with pytest.raises(ConfigError, match="reference"):
        create_app(ScriptedGenerator(script), ServerConfig(verifiers=("reference",)))


def test_a_hung_upstream_gets_a_504_at_the_servers_time_limit():
    import asyncio
    import time

    from fastapi.testclient import TestClient

    from ponder.backends.openai_http import OpenAIGenerator

    async def hang(request):
        await asyncio.sleep(60)  # an upstream that accepted the request and went silent
        return httpx.Response(200, json={})

    upstream = OpenAIGenerator("http://upstream.test", model="m", max_retries=0, transport=httpx.MockTransport(hang))
    cfg = ServerConfig(model_name="tiny", request_timeout_s=1.0, deadline_grace_s=0.5)
    with TestClient(create_app(upstream, cfg)) as client:
        t0 = time.monotonic()
        r = client.post("/v1/chat/completions", json={"model": "tiny", "messages": [{"role": "user", "content": "hi"}]})
        took = time.monotonic() - t0
    assert r.status_code == 504 and r.json()["error"]["code"] == "request_timeout", r.text
    assert took < 10  # not the upstream's 60 s


def test_a_stream_holds_its_in_flight_slot_until_it_ends():
    gen = ScriptedGenerator(script, delay_s=3.0)
    s = Served(create_app(gen, ServerConfig(model_name="tiny", max_inflight=1, batch_window_s=0.0)))
    try:
        headers = {"Authorization": "Bearer x"}
        body = {"model": "tiny", "stream": True, "messages": [{"role": "user", "content": "6*7?"}]}
        with httpx.stream("POST", s.url + "/v1/chat/completions", json=body, headers=headers, timeout=30) as r:
            assert r.status_code == 200  # the stream has started (its samples take 3 s)
            other = httpx.post(s.url + "/v1/chat/completions", headers=headers, timeout=30,
                               json={**body, "stream": False})
            assert other.status_code == 429  # the running stream still counts
            rest = list(r.iter_lines())
        assert any("[DONE]" in line for line in rest)
        after = httpx.post(s.url + "/v1/chat/completions", headers=headers, timeout=30, json={**body, "stream": False})
        assert after.status_code == 200  # the slot came back when the stream ended
    finally:
        s.stop()


class Hold:
    """A generator whose calls wait until released (or cancelled), recording what happened."""

    def __init__(self):
        import threading

        from ponder.backends.base import Capabilities

        self.capabilities = Capabilities(native_n=True)
        self.name = "hold"
        self.started = threading.Event()
        self.cancelled = threading.Event()
        self.tokens = []

    async def generate(self, requests, *, progress=None):
        import asyncio

        from ponder.backends.base import cancellable

        async def wait(reqs):
            self.tokens += [r.cancel for r in reqs]
            self.started.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
            raise AssertionError("never released")
        return await cancellable(requests, wait)


def test_a_dropped_stream_cancels_its_work_down_to_the_backend():
    gen = Hold()
    s = Served(create_app(gen, ServerConfig(model_name="tiny", batch_window_s=0.0)))
    try:
        body = {"model": "tiny", "stream": True, "messages": [{"role": "user", "content": "6*7?"}]}
        with httpx.stream("POST", s.url + "/v1/chat/completions", json=body, timeout=30) as r:
            assert r.status_code == 200
            assert gen.started.wait(10)
        # the client closed the connection mid-stream
        assert gen.cancelled.wait(10), "the strategy's backend call was not cancelled"
        assert gen.tokens and all(t.is_set() for t in gen.tokens)  # a decode in a thread stops on these
        assert httpx.get(s.url + "/metrics").status_code == 200
    finally:
        s.stop()


def test_a_stream_past_the_servers_time_limit_ends_with_a_504_event():
    gen = Hold()
    s = Served(create_app(gen, ServerConfig(model_name="tiny", batch_window_s=0.0, request_timeout_s=0.5,
                                            deadline_grace_s=0.2)))
    try:
        body = {"model": "tiny", "stream": True, "messages": [{"role": "user", "content": "6*7?"}]}
        with httpx.stream("POST", s.url + "/v1/chat/completions", json=body, timeout=30) as r:
            lines = [line for line in r.iter_lines() if line.startswith("data: ")]
        err = json.loads(lines[-2][6:])
        assert err["error"]["code"] == "request_timeout" and lines[-1] == "data: [DONE]"
        assert gen.cancelled.wait(10)
    finally:
        s.stop()


def read_until_closed(sock, timeout=10.0):
    sock.settimeout(timeout)
    parts = []
    while chunk := sock.recv(4096):
        parts.append(chunk)
    sock.close()
    return b"".join(parts).decode()


def test_chunked_bodies_are_bounded_and_slow_bodies_time_out_without_holding_a_slot():
    import socket
    import time

    s = Served(create_app(ScriptedGenerator(script), ServerConfig(model_name="tiny", max_inflight=1,
                                                                  max_body_bytes=1000, body_timeout_s=1.0)))
    try:
        # 5,000 bytes in 50 chunks with no Content-Length, written whole before the reply is read (the
        # server answers 413 and closes as soon as the limit is passed; a socket keeps the test exact)
        big = socket.create_connection(("127.0.0.1", s.port))
        big.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
                    + b"".join(b"64\r\n" + b" " * 100 + b"\r\n" for _ in range(50)) + b"0\r\n\r\n")
        reply = read_until_closed(big)
        assert reply.startswith("HTTP/1.1 413") and "request_too_large" in reply
        # a slow client: headers and part of a body, then silence
        slow = socket.create_connection(("127.0.0.1", s.port))
        slow.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: 500\r\n\r\n{\"model\": ")
        time.sleep(0.2)
        ok = httpx.post(s.url + "/v1/chat/completions", timeout=30,
                        json={"model": "tiny", "messages": [{"role": "user", "content": "6*7?"}]})
        assert ok.status_code == 200  # the trickling body holds no in-flight slot (max_inflight=1)
        reply = read_until_closed(slow)
        assert reply.startswith("HTTP/1.1 408") and "request_timeout" in reply
        metrics = httpx.get(s.url + "/metrics").text
        assert 'status="413"' in metrics and 'status="408"' in metrics
    finally:
        s.stop()


def test_requests_set_strategy_options_but_never_files_and_the_operator_sets_files_once(served, tmp_path, monkeypatch):
    r = ask(served.client(), extra_body={"ponder": {"strategy": "adaptive-vote", "n": 8, "return_trace": True,
                                                   "options": {"batch": 2, "threshold": 0.9}}})
    rounds = [e for e in r.model_extra["ponder"]["trace"] if e["event"] == "round"]
    assert rounds and rounds[0]["samples"] == 2
    for options, param in (({"threshold": 2}, "threshold"), ({"colour": "red"}, "colour"),
                           ({"rule": "/etc/passwd"}, "ponder.options.rule"),
                           ({"policy": "policy.json"}, "ponder.options.policy")):
        with pytest.raises(openai.BadRequestError) as e:
            ask(served.client(), extra_body={"ponder": {"strategy": "auto", "options": options}})
        assert e.value.body["param"] == param, e.value.body
    # adaptive-vote's `rule` names a rule (beta, esc), not a file: a request may set it
    r = ask(served.client(), extra_body={"ponder": {"strategy": "adaptive-vote", "n": 8, "return_trace": True,
                                                   "options": {"rule": "esc"}}})
    assert {e["rule"] for e in r.model_extra["ponder"]["trace"] if e["event"] == "round"} == {"esc"}
    # the operator's stop rule: read once, when the app is built
    from ponder.allocation import stopping
    from ponder.allocation.stopping import fit_stop_rule
    from test_auto import synthetic_log

    fit_stop_rule(synthetic_log(30)).save(tmp_path / "stop.json")
    loads = []
    real = stopping.StopRule.load.__func__
    monkeypatch.setattr(stopping.StopRule, "load", classmethod(lambda cls, p: loads.append(p) or real(cls, p)))
    s = Served(create_app(ScriptedGenerator(script), ServerConfig(model_name="tiny", strategy="auto", n=8,
                                                                  options={"rule": str(tmp_path / "stop.json")})))
    try:
        for _ in range(2):
            r = ask(s.client(), extra_body={"ponder": {"return_trace": True}})
            auto = next(e for e in r.model_extra["ponder"]["trace"] if e["event"] == "auto")
            assert auto["rule"] == "learned"
        assert len(loads) == 1
    finally:
        s.stop()


def read_one_response(sock):
    """One HTTP/1.1 response with a Content-Length body, read off a socket that stays open."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the kept-alive connection"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection mid-response"
        rest += chunk
    return head.decode()


def test_slow_headers_are_cut_off_and_normal_keep_alive_requests_are_not():
    import socket
    import time

    from ponder.server.http import with_header_timeout

    s = Served(create_app(ScriptedGenerator(script), ServerConfig(model_name="tiny")), http=with_header_timeout(0.5))
    try:
        slow = socket.create_connection(("127.0.0.1", s.port))
        t0 = time.monotonic()
        for line in (b"POST /v1/chat/completions HTTP/1.1\r\n", b"host: x\r\n"):  # trickles, never finishes
            slow.sendall(line)
            time.sleep(0.2)
        assert read_until_closed(slow) == "" and time.monotonic() - t0 < 5  # closed, not held
        # one kept-alive connection, several requests, idle longer than the header limit between them:
        # each is answered on the same socket (a client library would silently reconnect, hiding a cut)
        body = b'{"model": "tiny", "messages": [{"role": "user", "content": "6*7?"}]}'
        head = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                b"content-length: " + str(len(body)).encode() + b"\r\n\r\n")
        kept = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        try:
            for _ in range(3):
                kept.sendall(head + body)
                assert read_one_response(kept).startswith("HTTP/1.1 200")
                time.sleep(0.7)
        finally:
            kept.close()
    finally:
        s.stop()


def test_a_dropped_stream_closes_the_upstream_request_too():
    import asyncio
    import threading

    from ponder.backends.openai_http import OpenAIGenerator

    started, cancelled = threading.Event(), threading.Event()

    async def slow_upstream(request):
        started.set()
        try:
            await asyncio.sleep(30)  # an upstream still generating
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return httpx.Response(200, json={})

    up = OpenAIGenerator("http://upstream.test", model="m", max_retries=0, transport=httpx.MockTransport(slow_upstream))
    s = Served(create_app(up, ServerConfig(model_name="tiny", batch_window_s=0.0)))
    try:
        body = {"model": "tiny", "stream": True, "messages": [{"role": "user", "content": "6*7?"}]}
        with httpx.stream("POST", s.url + "/v1/chat/completions", json=body, timeout=30) as r:
            assert r.status_code == 200
            assert started.wait(10)
        assert cancelled.wait(10), "the upstream request kept running after the client left"
    finally:
        s.stop()
