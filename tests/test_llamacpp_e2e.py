"""End to end on the real embedded model (llama.cpp, SmolLM2-135M): short and few."""

import asyncio
import json

import pytest
from typer.testing import CliRunner

from conftest import model_path_or_skip
from ponder import ConfigError, Engine, GenRequest, Message, Problem, SamplingParams
from ponder.strategies.vote import MajorityVote

pytestmark = pytest.mark.e2e
Q = (Message("user", "Tom has 3 apples and buys 5 more. How many apples does he have?"),)


def gen1(llama, **kw):
    [r] = llama.generate_sync([GenRequest(messages=Q, **kw)])
    return r


def test_n_samples_share_one_prompt_evaluation(llama):
    params = SamplingParams(temperature=0.8, max_tokens=12)
    r = gen1(llama, n=6, params=params, seed=1)
    assert len(r.outputs) == 6 and r.usage.calls == 1
    assert r.usage.prompt_tokens == len(llama.tokenize(llama.render(GenRequest(messages=Q))))
    assert all(1 <= o.completion_tokens <= 12 for o in r.outputs)
    assert r.usage.completion_tokens == sum(o.completion_tokens for o in r.outputs)
    assert len({o.text for o in r.outputs}) > 1  # samples differ
    # the same prompt again: only the last prompt token is re-evaluated (prefix reuse)
    again = gen1(llama, n=2, params=params, seed=1)
    assert again.events[0]["evaluated"] == 1


def test_same_seed_same_samples_and_greedy_is_deterministic(llama):
    p = SamplingParams(temperature=0.9, max_tokens=10)
    a, b = gen1(llama, n=3, params=p, seed=11), gen1(llama, n=3, params=p, seed=11)
    assert [o.text for o in a.outputs] == [o.text for o in b.outputs]
    g = gen1(llama, n=2, params=SamplingParams(temperature=0, max_tokens=10), seed=1)
    assert g.outputs[0].text == g.outputs[1].text


def test_logprobs_and_stop_strings(llama):
    r = gen1(llama, n=2, params=SamplingParams(temperature=0.7, max_tokens=8, logprobs=3), seed=2)
    for o in r.outputs:
        assert len(o.logprobs) == o.completion_tokens
        for t in o.logprobs:
            assert t.logprob <= 0 and len(t.top) == 3
            assert t.top[0][1] >= t.logprob - 1e-9  # the best alternative is at least as likely
    r = gen1(llama, n=1, params=SamplingParams(temperature=0, max_tokens=40, stop=(" ",)))
    assert " " not in r.outputs[0].text.strip() and r.outputs[0].finish_reason == "stop"


def test_requests_are_packed_into_one_batch(llama):
    reqs = [GenRequest(messages=(Message("user", f"Count to {i}."),), n=2,
                       params=SamplingParams(max_tokens=6), seed=i) for i in range(3)]
    out = llama.generate_sync(reqs)
    assert [len(r.outputs) for r in out] == [2, 2, 2]


def test_context_overflow_is_a_clear_error_of_that_request_alone(llama):
    too_long = gen1(llama, params=SamplingParams(max_tokens=llama.n_ctx))
    assert isinstance(too_long.error, ConfigError) and "max_tokens" in str(too_long.error) and not too_long.outputs
    ok_params = SamplingParams(max_tokens=8, temperature=0)
    first, bad, last = llama.generate_sync([GenRequest(messages=Q, params=ok_params),
                                            GenRequest(messages=Q, params=SamplingParams(max_tokens=llama.n_ctx)),
                                            GenRequest(messages=Q, n=2, params=ok_params)])
    assert isinstance(bad.error, ConfigError) and first.error is None and last.error is None
    assert first.outputs[0].text == gen1(llama, params=ok_params).outputs[0].text and len(last.outputs) == 2


def test_engine_vote_on_the_real_model(llama):
    eng = Engine(llama, MajorityVote(4), params=SamplingParams(max_tokens=48), seed=0)
    res = asyncio.run(eng.asolve(Problem(prompt="What is 2 + 3?")))
    assert len(res.candidates) == 4
    assert res.usage.completion_tokens == sum(c.tokens for c in res.candidates)
    assert res.usage.flops_estimate > 0 and res.usage.wall_s > 0
    assert any(e["event"] == "vote" for e in res.trace)


def test_the_live_feed_streams_each_sample_as_it_decodes(llama):
    events = []
    eng = Engine(llama, MajorityVote(3), params=SamplingParams(max_tokens=32, stop=("\n\n",)), seed=2)
    res = asyncio.run(eng.asolve(Problem(prompt="What is 2 + 3?"), listener=events.append))
    text = {}
    for e in events:
        if e["event"] == "delta":
            text[e["sample"]] = e["text"] if e.get("replace") else text.get(e["sample"], "") + e["text"]
    assert [text[i] for i in range(3)] == [c.text for c in res.candidates]  # exact, also when cut at a stop
    assert sum(e["event"] == "delta" for e in events) >= sum(c.tokens for c in res.candidates) // 2  # token-wise
    assert sorted(e["sample"] for e in events if e["event"] == "sample_done") == [0, 1, 2]


def test_revise_chains_on_the_real_model(llama):
    from ponder.strategies.revise import Revise

    eng = Engine(llama, Revise(4, chains=2), params=SamplingParams(max_tokens=24), seed=0)
    res = asyncio.run(eng.asolve(Problem(prompt="What is 2 + 3?")))
    rounds = [e for e in res.trace if e["event"] == "revise"]
    assert len(res.candidates) == 4 and [e["chains"] for e in rounds] == [[0, 1], [0, 1]]
    assert res.usage.calls == 3  # round 0: one request with n=2; round 1: the two chains' requests
    assert res.usage.completion_tokens == sum(c.tokens for c in res.candidates)


def test_cli_ask_json(llama):
    from conftest import TEST_MODEL
    from ponder.cli import app

    out = CliRunner().invoke(app, ["ask", "What is 2 + 3?", "-m", TEST_MODEL, "--n", "2",
                                   "--max-tokens", "24", "--json"])
    assert out.exit_code == 0, out.output
    assert out.stderr == ""  # llama.cpp's warnings stay quiet (SmolLM2 trains at 8,192 < 16,384 cells)
    d = json.loads(out.stdout)
    assert len(d["candidates"]) == 2 and d["usage"]["calls"] == 1
    assert d["usage"]["completion_tokens"] == sum(c["tokens"] for c in d["candidates"])


def test_llm_judge_on_the_real_model(llama):
    from ponder.types import Candidate
    from ponder.verifiers.judge import LLMJudge

    judge = LLMJudge(llama)
    p = Problem(prompt="What is 2 + 3?")
    s = asyncio.run(judge.score(p, [Candidate("2 + 3 = 5. \\boxed{5}", "5"), Candidate("\\boxed{7}", "7")]))
    assert len(s.values) == 2 and all(0.0 <= v <= 1.0 for v in s.values)
    assert s.usage.completion_tokens == 2 and s.usage.calls == 2


def test_cli_eval_report_export_on_the_real_model(llama, tmp_path):
    from conftest import TEST_MODEL
    from ponder.cli import app

    run = str(tmp_path / "run")
    args = ["eval", "--dataset", "arith", "--limit", "2", "--n", "2", "-m", TEST_MODEL, "--max-tokens", "24",
            "--verifier", "confidence-mean", "--out", run]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "2 logged now" in out.output
    again = CliRunner().invoke(app, args)  # resume: nothing left to do
    assert "0 logged now, 2 already there" in again.output
    rep = CliRunner().invoke(app, ["report", run])
    assert rep.exit_code == 0, rep.output
    assert (tmp_path / "run" / "report" / "report.html").stat().st_size > 1000
    exp = CliRunner().invoke(app, ["export", run, "--format", "preference", "-o", str(tmp_path / "p.jsonl")])
    assert exp.exit_code == 0 and (tmp_path / "p.jsonl").exists()


def test_requests_sharing_a_prefix_evaluate_only_their_new_part(llama):
    q = (Message("user", "Solve step by step: what is 12 * 7?"),)
    params = SamplingParams(max_tokens=4, stop=("\n\n",))
    reqs = [GenRequest(messages=q, prefix=p, params=params, seed=1) for p in ("", "First, ", "First, note that")]
    out = llama.generate_sync(reqs)
    for r in out[1:]:
        ev = r.events[0]
        assert ev["evaluated"] <= 6 < ev["tokens"]  # only the new prefix tokens were evaluated
        assert r.usage.prompt_tokens == ev["tokens"]


def test_stop_string_is_reported(llama):
    r = gen1(llama, params=SamplingParams(temperature=0, max_tokens=30, stop=(" ",)))
    assert r.outputs[0].stop_string == " "


def test_beam_search_with_the_llm_prm_on_the_real_model(llama):
    from ponder.strategies.beam import BeamSearch
    from ponder.verifiers.llm_prm import LLMPRM

    eng = Engine(llama, BeamSearch(2, width=2, max_steps=2, step_tokens=12), LLMPRM(llama),
                 params=SamplingParams(max_tokens=64), seed=0)
    res = asyncio.run(eng.asolve(Problem(prompt="What is 2 + 3?")))
    expands = [e for e in res.trace if e["event"] == "expand"]
    assert 1 <= len(expands) <= 2 and len(expands[0]["nodes"]) == 2
    assert all(0.0 <= nd["score"] <= 1.0 for e in expands for nd in e["nodes"])
    assert res.candidates and all(c.steps for c in res.candidates)
    assert res.usage.completion_tokens > 0


def test_cli_search_prints_the_tree(llama):
    from conftest import TEST_MODEL
    from ponder.cli import app

    out = CliRunner().invoke(app, ["ask", "What is 2 + 3?", "-m", TEST_MODEL, "--strategy", "dvts", "--n", "2",
                                   "--width", "2", "--max-steps", "2", "--step-tokens", "12", "--show-trace"])
    assert out.exit_code == 0, out.output
    assert "#0 (problem)" in out.output and "★ marks the chosen path" in out.output


def test_default_sizes_follow_where_the_model_runs(monkeypatch, tmp_path):
    """No GPU library in the package: no offload and the CPU sizes, without asking llama.cpp (the
    question alone crashes on CPUs that advertise AMX); with one, llama.cpp decides."""
    import types

    from ponder.backends.llamacpp import LlamaCppGenerator

    gen = LlamaCppGenerator(model_path_or_skip())
    try:
        assert not gen.offloaded and (gen.n_ctx, gen.n_seq_max) == (16384, 16)
    finally:
        gen.close()
    (tmp_path / "lib").mkdir()
    asked = []
    fake = types.SimpleNamespace(__file__=str(tmp_path / "__init__.py"),
                                 llama_supports_gpu_offload=lambda: asked.append(1) or True)
    from ponder.backends import llama_runtime

    monkeypatch.setattr(llama_runtime, "import_llama_cpp", lambda: (fake, None))
    assert llama_runtime.gpu_offload_available() is False and not asked
    (tmp_path / "lib" / "libggml-cuda.so").write_bytes(b"")
    assert llama_runtime.gpu_offload_available() is True and asked == [1]


def test_a_lone_surrogate_is_a_clear_error_of_that_request(llama):
    bad, ok = llama.generate_sync([GenRequest(prompt="What is \ud800?", params=SamplingParams(max_tokens=2)),
                                   GenRequest(prompt="1, 2, 3,", params=SamplingParams(max_tokens=2))])
    assert isinstance(bad.error, ConfigError) and "surrogate" in str(bad.error) and ok.error is None


def test_answer_stop_ends_a_sample_once_its_boxed_answer_is_closed(llama):
    p = SamplingParams(temperature=0, max_tokens=40)
    prefix = "3 + 5 = 8, so the final answer is \\boxed{8"
    full = gen1(llama, n=1, params=p, prefix=prefix).outputs[0]
    cut = gen1(llama, n=1, params=p, prefix=prefix, answer_stop=True).outputs[0]
    assert llama.capabilities.answer_stop
    assert cut.finish_reason == "stop" and "}" in cut.text  # a token may carry more than the brace
    assert full.text.startswith(cut.text) and cut.completion_tokens < full.completion_tokens


def test_a_cancelled_call_stops_decoding_at_the_next_token_and_close_waits_for_it():
    import threading

    from ponder.backends.llamacpp import LlamaCppGenerator

    g = LlamaCppGenerator(model_path_or_skip(), n_ctx=2048, n_seq_max=4)
    steps: list[int] = []
    long = GenRequest(messages=Q, n=2, params=SamplingParams(temperature=1.0, max_tokens=500), seed=5,
                      prefix="Let me explain in great detail, step by step, with many examples:")

    async def cancel_midway():
        task = asyncio.create_task(g.generate([long], progress=steps.append))
        while len(steps) < 5:
            await asyncio.sleep(0.01)
        task.cancel()
        at_cancel = len(steps)
        with pytest.raises(asyncio.CancelledError):
            await task
        [r] = await g.generate([GenRequest(messages=Q, n=1, params=SamplingParams(max_tokens=2), seed=1)])
        return at_cancel, r  # the second call ran once the first decode had stopped

    at_cancel, r = asyncio.run(cancel_midway())
    assert len(steps) <= at_cancel + 2 and r.outputs[0].completion_tokens <= 2  # stopped within a step
    # a cancel token already set: nothing but the first token is decoded
    ev = threading.Event()
    ev.set()
    [done] = g.generate_sync([GenRequest(messages=Q, n=2, params=SamplingParams(max_tokens=50), seed=2, cancel=ev)])
    assert [o.finish_reason for o in done.outputs] == ["deadline", "deadline"]
    assert all(o.completion_tokens == 1 for o in done.outputs)
    # closing while a decode runs in another thread: it is stopped and waited for, then freed (no crash)
    started = threading.Event()
    out: list = []
    worker = threading.Thread(target=lambda: out.append(g.generate_sync([long], progress=lambda k: started.set())))
    worker.start()
    assert started.wait(30)
    g.close()
    worker.join(30)
    assert not worker.is_alive() and out[0][0].outputs[0].finish_reason in ("deadline", "stop")
    g.close()  # twice is fine


def test_a_request_whose_deadline_passes_while_another_decodes_is_answered_at_its_deadline(llama):
    import time

    assert llama._sched.lock.acquire()  # another call is decoding (a big request ahead of this one)
    try:
        t0 = time.monotonic()
        [r] = llama.generate_sync([GenRequest(messages=Q, n=2, params=SamplingParams(max_tokens=4),
                                              deadline=time.monotonic() + 0.5)])
        waited = time.monotonic() - t0
    finally:
        llama._sched.lock.release()
    assert 0.4 < waited < 5  # its own deadline, not the other call's length
    assert [o.finish_reason for o in r.outputs] == ["deadline", "deadline"] and r.usage.completion_tokens == 0
    assert r.events[0]["event"] == "deadline"


def test_auto_on_the_embedded_model_scores_confidence_and_stops_samples_at_their_answer(llama):
    from ponder.allocation.auto import Auto

    eng = Engine(llama, Auto(4, batch=2, confidence=True), params=SamplingParams(temperature=0.7, max_tokens=48),
                 seed=3)
    r = asyncio.run(eng.asolve(Problem(messages=Q, id="auto")))
    auto = next(e for e in r.trace if e["event"] == "auto")
    assert auto["answer_stop"] and auto["confidence"] and auto["rule"] == "beta"
    rounds = [e for e in r.trace if e["event"] == "round"]
    assert rounds and rounds[0]["samples"] == 2 and len(r.candidates) in (2, 4)
    assert all(c.score is not None and c.score > 0 for c in r.candidates)
    assert r.usage.completion_tokens == sum(c.tokens for c in r.candidates)


def test_a_small_call_joins_a_running_big_one_and_returns_when_its_own_samples_finish():
    import threading

    from ponder.backends.llamacpp import LlamaCppGenerator

    g = LlamaCppGenerator(model_path_or_skip(), n_ctx=4096, n_seq_max=8)
    big = GenRequest(messages=Q, n=3, params=SamplingParams(temperature=1.0, max_tokens=400), seed=1,
                     prefix="Let me explain in great detail, step by step, with many examples:")
    small = GenRequest(messages=(Message("user", "What is 2+3?"),), n=2,
                       params=SamplingParams(temperature=0.5, max_tokens=8), seed=2)
    started, out = threading.Event(), {}
    worker = threading.Thread(target=lambda: out.setdefault("big", g.generate_sync(
        [big], progress=lambda k: started.set())))
    worker.start()
    try:
        assert started.wait(60)
        [r] = g.generate_sync([small])
        big_still_running = worker.is_alive()
    finally:
        worker.join(120)
    assert big_still_running  # answered while the big call decodes, not after it
    assert r.events[0].get("joined_running_batch") and len(r.outputs) == 2
    assert all(1 <= o.completion_tokens <= 8 for o in r.outputs)
    assert r.usage.completion_tokens == sum(o.completion_tokens for o in r.outputs)
    assert [o.completion_tokens for o in out["big"][0].outputs] and not out["big"][0].error
    g.close()


def test_the_default_context_plans_vote_at_16_as_one_group():
    from ponder.backends.llamacpp import LlamaCppGenerator

    g = LlamaCppGenerator(model_path_or_skip())  # the CPU defaults
    r = GenRequest(messages=Q, n=16, params=SamplingParams(max_tokens=512))
    toks = g.tokenize(g.render(r))
    from ponder.backends.llama_scheduler import plan

    assert [[len(j.samples) for j in grp] for grp in plan([r], [toks], g.n_seq_max, g.n_ctx)] == [[16]]
    g.close()
