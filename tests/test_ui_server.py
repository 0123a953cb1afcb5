"""The JSON behind /ui: the live event feed on the OpenAI stream, the options a page may offer, and
eval runs read by name only."""

import json

import httpx
import pytest
from typer.testing import CliRunner

from ponder import ScriptedGenerator
from ponder.cli import app
from ponder.server.app import ServerConfig, create_app
from ponder.server.ui import create_runs_app
from ponder.testing import AppServer


def script(req, i, rng):
    return f"6 * 7 = {42 if i % 2 else 41}. So \\boxed{{{42 if i % 2 else 41}}}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    d = root / "r1"
    d.mkdir()
    (d / "run.json").write_text(json.dumps({"dataset": "demo", "strategy": "vote", "n": 2}))
    rec = {"problem_id": "p", "seed": 0, "question": "6*7?", "reference": "42", "answer": "42", "correct": True,
           "chosen": 1, "usage": {"completion_tokens": 8, "wall_s": 0.1},
           "candidates": [{"text": "41", "answer": "41", "correct": False, "tokens": 4},
                          {"text": "42", "answer": "42", "correct": True, "tokens": 4}]}
    (d / "log.jsonl").write_text(json.dumps(rec) + "\n")
    (root / "not-a-run").mkdir()
    (root / "secret.txt").write_text("no")
    return root


@pytest.fixture(scope="module")
def served(runs):
    gen = ScriptedGenerator(script)
    cfg = ServerConfig(model_name="tiny", api_keys=("k",), strategies=("vote", "beam"), runs_dir=str(runs))
    s = AppServer(create_app(gen, cfg))
    s.http = httpx.Client(base_url=s.url, headers={"authorization": "Bearer k"})
    yield s
    s.http.close()
    s.stop()


def test_the_page_is_served_and_its_data_needs_the_key(served):
    assert "<title>ponder</title>" in httpx.get(served.url + "/ui").text
    assert httpx.get(served.url + "/ui/app.js").headers["content-type"].startswith("text/javascript")
    assert httpx.get(served.url + "/ui/index.py").status_code == 404
    assert httpx.get(served.url + "/v1/ponder/options").status_code == 401
    o = served.http.get("/v1/ponder/options").json()
    assert o["strategies"] == ["vote", "beam"] and o["runs"] and o["auth"] and o["model"] == "tiny"


def test_events_ride_on_the_openai_stream(served):
    body = {"model": "tiny", "stream": True, "messages": [{"role": "user", "content": "6*7?"}],
            "ponder": {"n": 4, "events": True}}
    events, content = [], ""
    with served.http.stream("POST", "/v1/chat/completions", json=body) as r:
        for line in r.iter_lines():
            if line.startswith("data: {"):
                d = json.loads(line[6:])
                events += (d.get("ponder") or {}).get("events", [])
                content += "".join((c.get("delta") or {}).get("content") or "" for c in d["choices"])
    assert "\\boxed{" in content  # standard clients still get the answer
    kinds = {e["event"] for e in events}
    assert {"delta", "sample_done", "sample", "vote", "usage"} <= kinds
    assert sorted(e["sample"] for e in events if e["event"] == "sample_done") == [0, 1, 2, 3]


def test_events_need_a_stream(served):
    r = served.http.post("/v1/chat/completions", json={"model": "tiny", "messages": [{"role": "user", "content": "q"}],
                                                       "ponder": {"events": True}})
    assert r.status_code == 400 and r.json()["error"]["param"] == "ponder.events"


def test_runs_are_read_by_name_only(served):
    assert [r["name"] for r in served.http.get("/v1/ponder/runs").json()["runs"]] == ["r1"]
    d = served.http.get("/v1/ponder/runs/r1").json()
    assert d["summary"]["accuracy"] == 1.0 and d["problems"][0]["samples"] == 2
    assert served.http.get("/v1/ponder/runs/r1/problems/p").json()["candidates"][1]["answer"] == "42"
    assert served.http.get("/v1/ponder/runs/r1/plot.png").content.startswith(b"\x89PNG")
    for bad in ("not-a-run", "..", "%2E%2E%2Fetc", "secret.txt", "r1%2F..%2F..%2Fetc"):
        r = served.http.get(f"/v1/ponder/runs/{bad}")
        assert r.status_code == 404, bad
    assert served.http.get("/v1/ponder/runs/r1/problems/nope").status_code == 404


def test_a_server_without_runs_says_so(served):
    s = AppServer(create_app(ScriptedGenerator(script), ServerConfig()))
    try:
        r = httpx.get(s.url + "/v1/ponder/runs")
        assert r.status_code == 404 and "--runs" in r.json()["error"]["message"]
    finally:
        s.stop()


def test_ponder_ui_serves_runs_without_a_model(runs):
    s = AppServer(create_runs_app(runs))
    try:
        assert httpx.get(s.url + "/v1/ponder/options").json() == {"model": None, "generation": False, "runs": True,
                                                                   "auth": False}
        assert httpx.get(s.url + "/v1/ponder/runs").json()["runs"][0]["name"] == "r1"
    finally:
        s.stop()


def test_cli_refuses_a_missing_runs_folder(tmp_path):
    from ponder.cli import app

    out = CliRunner().invoke(app, ["ui", str(tmp_path / "nope")])
    assert out.exit_code == 2 and "runs=" in out.output
    out = CliRunner().invoke(app, ["serve", "--runs", str(tmp_path / "nope"), "--backend", "openai",
                                   "--upstream", "http://127.0.0.1:9"])
    assert out.exit_code == 2 and "runs=" in out.output


def test_the_root_leads_to_the_page_and_the_page_names_the_model(monkeypatch, plugin):
    from fastapi.testclient import TestClient

    with TestClient(create_app(ScriptedGenerator(["x"], name="llamacpp:qwen.gguf"),
                               ServerConfig(model_name="ponder", batch_window_s=0))) as c:
        r = c.get("/", follow_redirects=False)
        assert r.status_code in (302, 307) and r.headers["location"] == "/ui"
        assert c.get("/v1/ponder/options").json()["served_by"] == "llamacpp:qwen.gguf"
    from ponder.cli import serve

    monkeypatch.setattr(serve, "run_server", lambda app_, **kw: None)
    out = CliRunner().invoke(app, ["serve", "--backend", "scripted", "-m", "m", "--port", "8123"])
    assert out.exit_code == 0, out.output
    assert "http://127.0.0.1:8123/v1" in out.output and "http://127.0.0.1:8123/ui" in out.output
    assert "plug:m" in out.output
