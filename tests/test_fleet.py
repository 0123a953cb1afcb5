"""A fleet of OpenAI-compatible endpoints: least outstanding work, failover, health, no hang."""

import asyncio
import json
import signal
import time

import httpx
import pytest

from ponder import ConfigError, GenRequest, Message, OpenAIGenerator, RetryableBackendError, SamplingParams
from ponder.backends.base import raise_errors
from ponder.backends.fleet import FleetGenerator

REQ = GenRequest(messages=(Message("user", "hi"),), n=1, params=SamplingParams(max_tokens=8), seed=1)


def endpoint(name, fail=False, delay=0.0, log=None):
    async def handler(request):
        if log is not None:
            log.append(name)
        await asyncio.sleep(delay)
        if fail:
            return httpx.Response(503, text=f"{name} is down")
        body = json.loads(request.content)
        return httpx.Response(200, json={"choices": [{"index": i, "message": {"content": name}, "finish_reason": "stop"}
                                                     for i in range(body["n"])],
                                         "usage": {"prompt_tokens": 3, "completion_tokens": 1}})
    return OpenAIGenerator(f"http://{name}.test", model="m", max_retries=0, backoff_s=0.0,
                           transport=httpx.MockTransport(handler))


def test_work_is_spread_by_outstanding_load():
    log = []
    fleet = FleetGenerator([endpoint("a", delay=0.05, log=log), endpoint("b", delay=0.05, log=log),
                            endpoint("c", delay=0.05, log=log)])
    out = asyncio.run(fleet.generate([REQ] * 9))
    assert len(out) == 9
    assert sorted(log.count(x) for x in "abc") == [3, 3, 3]


def test_a_failing_endpoint_is_failed_over_and_taken_out_of_rotation():
    log = []
    fleet = FleetGenerator([endpoint("bad", fail=True, log=log), endpoint("good", log=log)], fail_threshold=1,
                           probe_after_s=60)
    out = asyncio.run(fleet.generate([REQ]))
    assert out[0].outputs[0].text == "good"
    assert any(e["event"] == "failover" and e["endpoint"] == "upstream 1" for e in out[0].events)
    asyncio.run(fleet.generate([REQ] * 4))
    assert log.count("bad") == 1  # out of rotation after its failure
    assert [m["up"] for m in fleet.status()] == [False, True]


def test_an_endpoint_that_dies_while_its_model_name_is_asked_is_failed_over():
    async def dropped(request):
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    dead = OpenAIGenerator("http://dead.test", max_retries=0, transport=httpx.MockTransport(dropped))  # model=None
    [alone] = asyncio.run(dead.generate([REQ]))  # a request's failure is its own response's error
    assert isinstance(alone.error, RetryableBackendError) and alone.outputs == ()
    assert "dead.test/v1/models: RemoteProtocolError" in str(alone.error)
    fleet = FleetGenerator([dead, endpoint("good")])
    out = asyncio.run(fleet.generate([REQ]))
    assert out[0].outputs[0].text == "good"
    fail = [e for e in out[0].events if e["event"] == "failover"]
    assert fail and fail[0]["endpoint"] == "upstream 1" and "dead.test" not in json.dumps(out[0].events)


def test_a_down_endpoint_is_probed_back_in():
    state = {"fail": True}

    async def flaky(request):
        if state["fail"]:
            return httpx.Response(503)
        return httpx.Response(200, json={"choices": [{"index": 0, "message": {"content": "back"},
                                                      "finish_reason": "stop"}]})

    a = OpenAIGenerator("http://a.test", model="m", max_retries=0, transport=httpx.MockTransport(flaky))
    fleet = FleetGenerator([a, endpoint("b")], fail_threshold=1, probe_after_s=0.05)
    asyncio.run(fleet.generate([REQ]))
    state["fail"] = False
    time.sleep(0.06)
    texts = [r.outputs[0].text for r in asyncio.run(fleet.generate([REQ, REQ]))]
    assert "back" in texts and fleet.status()[0]["up"]


def test_all_endpoints_down_fails_fast():
    fleet = FleetGenerator([endpoint("x", fail=True), endpoint("y", fail=True)])
    t0 = time.monotonic()
    [resp] = asyncio.run(fleet.generate([REQ]))
    with pytest.raises(RetryableBackendError):
        raise_errors([resp])
    assert time.monotonic() - t0 < 5


def test_endpoints_file(tmp_path):
    f = tmp_path / "fleet.txt"
    f.write_text("# my servers\nhttp://a:1/v1\n\nhttp://b:2/v1\n")
    assert [m["endpoint"] for m in FleetGenerator.from_file(f).status()] == ["http://a:1/v1", "http://b:2/v1"]
    with pytest.raises(ConfigError, match="endpoints"):
        FleetGenerator([])


@pytest.mark.e2e
def test_fleet_of_real_servers_survives_a_killed_one():
    from conftest import model_path_or_skip, start_llama_server

    path = model_path_or_skip()
    servers = []
    try:
        servers = [start_llama_server(path, n_ctx=1024) for _ in range(3)]
        fleet = FleetGenerator([url for _, url in servers], timeout=60, fail_threshold=1, probe_after_s=600)
        reqs = [GenRequest(messages=(Message("user", f"Count to {i}."),), params=SamplingParams(max_tokens=12),
                           seed=i) for i in range(12)]

        async def go():
            task = asyncio.ensure_future(fleet.generate(reqs))
            await asyncio.sleep(0.3)
            servers[0][0].send_signal(signal.SIGKILL)  # one endpoint dies mid-run
            try:
                return await asyncio.wait_for(task, timeout=180)
            finally:
                await fleet.aclose()

        out = asyncio.run(go())
        assert len(out) == 12 and all(r.outputs and r.usage.completion_tokens for r in out)  # nothing lost
        failovers = [e for r in out for e in r.events if e["event"] == "failover"]
        # the killed server's unfinished requests moved to the others (unless it had finished them all)
        assert failovers or fleet.status()[0]["served"] == 4
        assert all(e["endpoint"] == "upstream 1" for e in failovers)
    finally:
        for proc, _ in servers:
            proc.kill()
            proc.wait(timeout=30)


def test_credentials_and_upstream_hosts_stay_private():
    seen = []

    async def handler(request):
        seen.append(request.headers.get("authorization"))
        return httpx.Response(503)

    gen = OpenAIGenerator("http://user:s3cret@internal.example:8000", model="m", max_retries=0,
                          transport=httpx.MockTransport(handler))
    [r] = asyncio.run(gen.generate([REQ]))
    assert seen and seen[0].startswith("Basic ")  # the credentials still authenticate
    assert "s3cret" not in gen.name and "s3cret" not in gen.base_url and "s3cret" not in str(r.error)
    fleet = FleetGenerator([gen, endpoint("good")])
    [out] = asyncio.run(fleet.generate([REQ]))
    text = json.dumps(out.events)
    assert out.outputs[0].text == "good" and "internal.example" not in text and "s3cret" not in text
