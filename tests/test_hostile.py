"""Hostile files and slow or vanishing clients: run logs, recipes and option files cannot exhaust or
crash ponder, work stops when a client leaves, a reader that falls behind cannot make the server buffer
without bound, and a shutdown ends streams with an error event, not a cut connection."""

import asyncio
import json
import time

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ponder import ConfigError, Problem, ScriptedGenerator
from ponder.cli import app
from ponder.server.app import ServerConfig, create_app
from ponder.testing import AppServer

runner = CliRunner()
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


@pytest.mark.parametrize("content,needle", [
    (BOMB, "YAML aliases"),
    ("x: " + "[" * 5000 + "]" * 5000, "nests too deep"),
    ("# " + "x" * (2 << 20), "bytes; a recipe is at most"),
    (None, "is not a regular file"),
])
def test_hostile_recipes_are_one_line_errors(tmp_path, content, needle):
    path = tmp_path
    if content is not None:
        path = tmp_path / "r.yaml"
        path.write_text(content)
    out = runner.invoke(app, ["ask", "q", "--recipe", str(path)])
    assert out.exit_code == 2 and needle in out.output and "Traceback" not in out.output, out.output


@pytest.mark.parametrize("option,content,needle", [
    ("rule", None, "is not a regular file"),  # /dev/zero: never read to the end
    ("rule", "[" * 10_000, "nests deeper than 64"),
    ("rule", json.dumps({"kind": "ponder-stop-rule"}), "not a ponder stop-rule file"),
    ("policy", json.dumps({"version": 1, "features": ["x"]}), "not a ponder policy file"),
    ("policy", "not json at all", "is not valid JSON"),
])
def test_hostile_option_files_are_one_line_errors(tmp_path, option, content, needle):
    path = "/dev/zero"
    if content is not None:
        path = str(tmp_path / "f.json")
        (tmp_path / "f.json").write_text(content)
    out = runner.invoke(app, ["ask", "q", "-s", "auto", "--option", f"{option}={path}"])
    assert out.exit_code == 2 and needle in out.output and "Traceback" not in out.output, out.output


def test_a_policy_file_with_the_wrong_types_is_refused_whole():
    from ponder.allocation.policy import FEATURES, Policy

    bad = {"version": 1, "features": list(FEATURES), "probe": "two", "mean": [0] * len(FEATURES),
           "std": [1] * len(FEATURES), "centroids": {"easy": "nope"}, "bins": {}, "fitted_on": {}}
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(bad, f)
    with pytest.raises(ConfigError, match="is not a valid policy file"):
        Policy.load(f.name)


def test_the_runs_browser_lists_a_damaged_run_and_never_shows_server_paths(tmp_path):
    from fastapi.testclient import TestClient

    from ponder.server.ui import HARDENING, create_runs_app

    good, bad = tmp_path / "good", tmp_path / "bad"
    for d in (good, bad):
        d.mkdir()
    rec = {"problem_id": "p", "seed": 0, "reference": "4", "answer": "4", "correct": True,
           "candidates": [{"text": "4", "answer": "4", "correct": True, "tokens": 2}],
           "usage": {"completion_tokens": 2}}
    (good / "log.jsonl").write_text(json.dumps(rec) + "\n")
    (bad / "log.jsonl").write_text("{}\n" + "[" * 100_000 + "\n" + json.dumps(rec) + "\n")
    (bad / "run.json").write_text("[" * 5000)
    client = TestClient(create_runs_app(tmp_path, api_keys=("k",)))
    assert client.get("/v1/ponder/runs").status_code == 401
    key = {"authorization": "Bearer k"}
    rows = {r["name"]: r for r in client.get("/v1/ponder/runs", headers=key).json()["runs"]}
    assert rows["good"]["problems"] == 1 and rows["bad"]["problems"] == 1
    assert "run.json" in rows["bad"]["error"] and "2 line(s) are not eval records" in rows["bad"]["issues"][0]
    page = json.dumps(client.get("/v1/ponder/runs/bad", headers=key).json())
    assert str(tmp_path) not in page and "bad/log.jsonl" in page  # named from the runs folder
    ui = client.get("/ui")
    assert all(ui.headers[k] == v for k, v in HARDENING.items())


def test_the_runs_index_reparses_a_log_only_when_it_changes(tmp_path, monkeypatch):
    import concurrent.futures

    from ponder.eval import logfile
    from ponder.server.ui import Runs

    d = tmp_path / "r"
    d.mkdir()
    rec = {"problem_id": "p", "seed": 0, "candidates": [], "usage": {}}
    (d / "log.jsonl").write_text(json.dumps(rec) + "\n")
    reads = []
    real = logfile.read_log
    monkeypatch.setattr(logfile, "read_log", lambda *a, **k: reads.append(k.get("light")) or real(*a, **k))
    runs = Runs(tmp_path)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:  # requests that arrive together: one parse
        list(pool.map(lambda _: (runs.listing(), runs.detail("r")), range(16)))
    assert reads == [True, True]  # the index once, the curve once; light reads: neither needs sample texts
    with (d / "log.jsonl").open("a") as f:
        f.write(json.dumps({**rec, "problem_id": "q"}) + "\n")
    assert runs.listing()[0]["problems"] == 2 and len(reads) == 3


def test_a_client_that_leaves_a_non_streamed_request_stops_its_work():
    gen = ScriptedGenerator(["so \\boxed{4}"], delay_s=30)
    s = AppServer(create_app(gen, ServerConfig(model_name="tiny", batch_window_s=0)))
    try:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(s.url + "/v1/chat/completions", timeout=0.5,
                       json={"model": "tiny", "messages": [{"role": "user", "content": "q"}]})
        deadline = time.monotonic() + 5
        while not (gen.requests and gen.requests[-1].cancel.is_set()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gen.requests and gen.requests[-1].cancel.is_set()  # the backend was told to stop
    finally:
        s.stop()


def test_a_reader_that_falls_behind_gets_a_truncated_feed_not_an_unbounded_buffer():
    from ponder.engine import Engine
    from ponder.params import SamplingParams
    from ponder.registry import make_strategy
    from ponder.server import run

    long = " ".join(f"w{i}" for i in range(400))
    engine = Engine(ScriptedGenerator([long + " \\boxed{4}"]), make_strategy("vote", 32),
                    params=SamplingParams(max_tokens=1000))

    async def slow_reader():
        got = []
        async for up in run.updates(engine, Problem(prompt="q"), timeout_s=60, grace_s=1, live=True):
            got.append(up)
            if len(got) == 1:
                await asyncio.sleep(1.0)  # the reader stalls while 32 × 400 deltas are produced
        return got

    ups = asyncio.run(slow_reader())
    events = [e for u in ups for e in u.events]
    assert len(events) <= run.MAX_FEED + 1
    assert any(e["event"] == "feed_truncated" and e["dropped"] > 0 for e in events)
    assert ups[-1].result is not None and ups[-1].result.answer == "4"  # the answer still comes


def test_a_stream_cut_by_a_shutdown_ends_with_an_error_event_and_done():
    gen = ScriptedGenerator(["so \\boxed{4}"], delay_s=30)
    app_ = create_app(gen, ServerConfig(model_name="tiny", batch_window_s=0, drain_s=2.0))
    s = AppServer(app_)
    try:
        app_.state.ponder.draining_since = time.monotonic()  # as SIGTERM does in ponder serve
        with httpx.stream("POST", s.url + "/v1/chat/completions", timeout=30,
                          json={"model": "tiny", "stream": True,
                                "messages": [{"role": "user", "content": "q"}]}) as r:
            lines = [ln for ln in r.iter_lines() if ln.startswith("data: ")]
        assert lines[-1] == "data: [DONE]" and "server_shutdown" in lines[-2]
    finally:
        s.stop()


def test_an_eval_where_every_problem_failed_exits_1(tmp_path, plugin):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"question": "q", "answer": "1"}) + "\n")
    out = runner.invoke(app, ["eval", "-d", str(data), "--backend", "scripted", "-m", "m", "-o", str(tmp_path / "r"),
                              "-O", "fail=true"])
    assert out.exit_code == 1 and "every problem of this invocation failed" in out.output, out.output


def _depth_by_characters(text, max_depth):
    """The obvious reading of JSON nesting, one character at a time (the reference for the fast one)."""
    depth, in_str, esc = 0, False, False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                return False
        elif ch in "]}":
            depth -= 1
    return True


@settings(max_examples=400, deadline=None)
@given(st.recursive(st.none() | st.integers() | st.text(alphabet='[]{}"\\ab', max_size=6),
                    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=3), kids, max_size=3),
                    max_leaves=40),
       st.integers(min_value=1, max_value=6))
def test_the_fast_depth_check_agrees_with_reading_character_by_character(value, max_depth):
    from ponder.files import json_depth_ok

    text = json.dumps(value)
    assert json_depth_ok(text, max_depth) == _depth_by_characters(text, max_depth)
    torn = text[: len(text) // 2]  # a cut-off line: the fast check may refuse more, never less
    assert json_depth_ok(torn, max_depth) <= _depth_by_characters(torn, max_depth)
