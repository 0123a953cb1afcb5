"""The operator's limits hold for every strategy and option: a request is bounded (samples, tokens,
FLOPs) from the strategy's declared cost before any work starts; budgets tighten, never loosen; values
of the wrong shape are 400s naming the field; only generation counts against the in-flight cap."""

import asyncio

import pytest
from fastapi.testclient import TestClient

from ponder import ConfigError, ScriptedGenerator
from ponder.allocation.route_table import fit_route
from ponder.server.app import ServerConfig, create_app
from test_route import LARGE, SMALL, scripted


def chat(client, content="q", **ponder):
    body = {"model": "tiny", "messages": [{"role": "user", "content": content}]}
    if ponder:
        body["ponder"] = ponder
    r = client.post("/v1/chat/completions", json=body)
    return r.status_code, r.json()


def gen(**kw):
    return ScriptedGenerator(["so \\boxed{5}", "first\n\nthen \\boxed{5}"], **kw)


def test_an_option_that_multiplies_the_work_is_bounded_like_n():
    big = gen(name="big")
    cfg = ServerConfig(model_name="tiny", strategy="cascade", n=4, options={"large": "big"}, batch_window_s=0)
    with TestClient(create_app(gen(), cfg, arms={"big": big})) as c:
        status, body = chat(c, options={"probe": 1_000_000})
        assert status == 400 and body["error"]["param"] == "ponder.options.probe", body
        assert "1000004 samples" in body["error"]["message"] and "--max-samples" in body["error"]["message"]
        status, body = chat(c, strategy="beam", n=8, options={"max_steps": 1000})
        assert status == 400 and body["error"]["param"] == "ponder.options.max_steps"
        status, body = chat(c, strategy="think", options={"budget": 10_000_000})
        assert status == 400 and "--max-request-tokens" in body["error"]["message"]
        status, body = chat(c, strategy="vote", n=64)  # at the limits, not past them
        assert status == 200 and body["ponder"]["bound"] == {"samples": 64, "tokens": 64 * 512}, body
        assert big.calls == 0  # nothing ran for the refused requests


def test_a_request_may_tighten_the_operators_budget_never_loosen_or_remove_it(tmp_path):
    table = fit_route([("small", SMALL), ("large", LARGE)], probe=4)
    table.save(tmp_path / "route.json")
    cfg = ServerConfig(model_name="tiny", strategy="route", n=16, batch_window_s=0,
                       options={"table": str(tmp_path / "route.json"), "flops": 5e11})
    with TestClient(create_app(scripted(0.95, 0.1), cfg, arms={"large": scripted(0.97, 0.8)})) as c:
        def budget(**options):
            status, body = chat(c, "a hard one", return_trace=True, options=options)
            route = [e for e in body.get("ponder", {}).get("trace", ()) if e["event"] == "route"]
            return status, body, route[0]["budget_flops"] if route else None

        assert budget(flops=1e30)[:1] == (400,)
        status, body, _ = budget(flops=1e30)
        assert "may lower the operator's flops=5e+11, never raise it" in body["error"]["message"]
        assert body["error"]["param"] == "ponder.options.flops"
        assert budget(flops=None)[::2] == (200, 5e11)  # null means "the default": the operator's
        assert budget()[::2] == (200, 5e11)
        assert budget(flops=1e9)[::2] == (200, 1e9)
        status, body, _ = budget(arms="large")
        assert status == 400 and body["error"]["param"] == "arms" and "not an option" in body["error"]["message"]


def test_values_of_the_wrong_shape_are_400s_naming_the_field():
    with TestClient(create_app(gen(), ServerConfig(model_name="tiny", batch_window_s=0))) as c:
        for top_k in ("x", "", True, 99):
            status, body = chat(c, strategy="deepconf", n=4, options={"top_k": top_k, "mode": "offline"})
            assert status == 400 and body["error"]["param"] == "top_k", (top_k, body)
        assert chat(c, strategy="deepconf", n=4, options={"mode": "offline"})[0] == 200  # the server is fine
        r = c.post("/v1/chat/completions", json={"model": "tiny", "messages": [
            {"role": "user", "content": [{"type": "text", "text": None}]}]})
        assert r.status_code == 400 and r.json()["error"]["param"] == "messages.content", r.text
        status, body = chat(c, strategy="beam", n=8, options={"width": 2.5})
        assert status == 400 and body["error"]["message"].startswith("width=2.5: must be an integer")
        status, body = chat(c, strategy="route")  # needs the operator's table: says what it needs
        assert status == 400 and "table" in body["error"]["message"]


def test_a_flop_limit_counts_the_prompt_and_every_sample():
    cfg = ServerConfig(model_name="tiny", batch_window_s=0, max_flops=2e12)  # 2 × 1e9 × (512 + prompt)
    with TestClient(create_app(gen(parameters=1e9), cfg)) as c:
        status, body = chat(c, n=64)
        assert status == 400 and "--max-flops" in body["error"]["message"], body
        status, body = chat(c, n=1)
        assert status == 200, body
    with pytest.raises(ConfigError, match="max_flops"):  # a backend that cannot count FLOPs cannot bound them
        create_app(gen(), cfg)


def test_only_generation_counts_against_the_in_flight_cap():
    app_ = create_app(gen(), ServerConfig(model_name="tiny", batch_window_s=0, max_inflight=1))
    with TestClient(app_) as c:
        app_.state.ponder.inflight = 1  # a generation request in flight
        assert c.get("/v1/models").status_code == 429
        assert c.get("/health").status_code == 200 and c.get("/metrics").status_code == 200
        app_.state.ponder.inflight = 0


def test_batch_bookkeeping_is_bounded():
    from ponder.backends.batching import HISTORY, BatchingGenerator
    from ponder.params import SamplingParams
    from ponder.types import GenRequest

    b = BatchingGenerator(gen(), window_s=0.0, max_requests=1)

    async def many():
        for _ in range(2 * HISTORY + 10):
            await b.generate([GenRequest(prompt="q", params=SamplingParams(max_tokens=4))])

    asyncio.run(many())
    assert len(b.batches) <= 2 * HISTORY
