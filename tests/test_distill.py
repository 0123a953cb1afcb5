"""`ponder distill`: which samples each mode keeps (no model), bad input as one-line errors, and the
whole loop on the packaged 135M model: train a few steps, resume, reproduce, convert, load, answer."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ponder.cli import app
from ponder.distill.data import Selection, read_examples, select, write_examples
from ponder.distill.pipeline import Plan
from ponder.errors import ConfigError

runner = CliRunner()


def cand(text, answer, correct=None, tokens=None, finish="stop"):
    return {"text": text, "answer": answer, "correct": correct, "tokens": tokens or len(text.split()),
            "finish_reason": finish}


def rec(pid, cands, reference="4", answer=None, question=None):
    return {"problem_id": pid, "seed": 0, "question": question or f"question {pid}", "reference": reference,
            "answer": answer, "candidates": cands}


def one_run(records, label="run", instruction="Box it."):
    return [(label, records, {"instruction": instruction, "model": "m"})]


def test_verified_keeps_right_samples_shortest_first_capped_and_deduplicated():
    r = rec("q1", [cand("long way to 4 " * 5, "4", True), cand("so 4", "4", True), cand("so 4", "4", True),
                   cand("it is 5", "5", False), cand("cut off at 4 and", "4", True, finish="length"),
                   cand("mid length gives 4 here", "4", True)])
    train, val, report = select(one_run([r]), Selection(mode="verified", per_question=2, val_fraction=0))
    assert [e.completion for e in train] == ["so 4", "mid length gives 4 here"]
    assert all(e.instruction == "Box it." and e.question == "question q1" and e.source == "run" for e in train)
    assert val == [] and report.train_examples == 2 and report.questions == 1


def test_verified_names_what_it_left_out_and_refuses_logs_without_references():
    records = [rec("q1", [cand("4", "4", True)]), rec("q2", [cand("5", "5", False)])]
    _, _, report = select(one_run(records), Selection(val_fraction=0))
    assert report.left_out == {"with no right sample": 1}
    assert "1 of 2 questions left out (1 with no right sample)" in report.summary()
    with pytest.raises(ConfigError, match="mode='verified'.*needs reference answers.*--mode majority"):
        select(one_run([rec("q1", [cand("4", "4")], reference=None)]), Selection())
    with pytest.raises(ConfigError, match="selected no training examples"):
        select(one_run([rec("q2", [cand("5", "5", False)])]), Selection())


def test_a_log_without_samples_is_a_clear_error():
    with pytest.raises(ConfigError, match="has no samples"):
        select(one_run([rec("q1", [])]), Selection())
    with pytest.raises(ConfigError, match="no logged records"):
        select(one_run([]), Selection())


def test_majority_needs_no_labels_and_keeps_only_clear_votes():
    clear = rec("q1", [cand("a 7", "7"), cand("b 7", "7"), cand("c 7.0", "7.0"), cand("d 9", "9")], reference=None)
    tied = rec("q2", [cand("a 1", "1"), cand("b 2", "2")], reference=None)
    weak = rec("q3", [cand("a 1", "1"), cand("b 1", "1"), cand("c 2", "2"), cand("d 3", "3"), cand("e 4", "4")],
               reference=None)
    train, _, report = select(one_run([clear, tied, weak]),
                              Selection(mode="majority", per_question=8, min_agreement=0.5, val_fraction=0))
    assert sorted(e.completion for e in train) == ["a 7", "b 7", "c 7.0"]  # 7.0 votes with 7
    assert report.left_out == {"without a clear majority": 2}  # a tie, and 2 of 5 < 0.5


def test_teacher_keeps_samples_that_state_the_answer_its_run_chose():
    r = rec("q1", [cand("so 1,000", "1,000"), cand("so 1000", "1000"), cand("so 999", "999")], reference=None,
            answer="1000")
    train, _, _ = select(one_run([r], label="big-model"), Selection(mode="teacher", per_question=4, val_fraction=0))
    assert sorted(e.completion for e in train) == ["so 1,000", "so 1000"]
    assert {e.source for e in train} == {"big-model"}


def test_questions_are_pooled_across_logs_and_split_by_question_reproducibly():
    a = [rec(f"q{i}", [cand(f"x{i} 4", "4", True)]) for i in range(40)]
    b = [rec(f"q{i}", [cand(f"y{i} 4", "4", True)]) for i in range(40)]
    runs = one_run(a, "a") + one_run(b, "b")
    train, val, report = select(runs, Selection(per_question=2, val_fraction=0.2, seed=3))
    assert report.questions == 40 and len(train) + len(val) == 80
    assert not {e.problem_id for e in train} & {e.problem_id for e in val}  # no question on both sides
    assert 2 <= report.val_questions <= 16
    again = select(list(reversed(runs)), Selection(per_question=2, val_fraction=0.2, seed=3))[1]
    assert {e.problem_id for e in again} == {e.problem_id for e in val}  # the order of the logs does not matter
    other = select(runs, Selection(per_question=2, val_fraction=0.2, seed=4))[1]
    assert {e.problem_id for e in other} != {e.problem_id for e in val}


def test_examples_round_trip_through_jsonl(tmp_path):
    train, _, _ = select(one_run([rec("q1", [cand("so 4", "4", True)])]), Selection(val_fraction=0))
    write_examples(tmp_path / "t.jsonl", train)
    assert read_examples(tmp_path / "t.jsonl") == train


@pytest.mark.parametrize("kw,needle", [
    ({"mode": "best"}, "mode='best'"),
    ({"per_question": 0}, "per_question=0"),
    ({"min_agreement": 1.5}, "min_agreement=1.5"),
    ({"val_fraction": 0.9}, "val_fraction=0.9"),
])
def test_selection_settings_are_checked(kw, needle):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        Selection(**kw)


@pytest.mark.parametrize("kw,needle", [
    ({}, r"runs=\[\]"),
    ({"runs": ("r",), "rounds": 2}, "rounds=2.*--dataset"),
    ({"runs": ("r",), "dataset": "arith", "rounds": 2, "selection": Selection(mode="teacher")}, "teacher mode"),
    ({"dataset": "arith", "selection": Selection(mode="teacher")}, "mode='teacher'"),
    ({"runs": ("r",), "quant": "q3"}, "quant='q3'"),
])
def test_plans_that_cannot_work_are_refused(kw, needle):
    with pytest.raises(ConfigError, match=needle):
        Plan(name="x", out="o", base="b", **kw)


def test_a_rerun_may_add_rounds_but_not_change_what_was_learned(tmp_path):
    from ponder.distill.pipeline import blocking_change, run

    one = Plan(name="x", out="o", base="b", runs=("r",)).settings()
    more = Plan(name="x", out="o", base="b", runs=("r",), dataset="arith:seed=10[0:20]", rounds=3).settings()
    assert blocking_change(one, more) is None  # round 1 learned from logs: later rounds may sample a set now
    assert blocking_change(one, Plan(name="x", out="o", base="b", runs=("r",), n=4).settings()) is None  # unused
    assert blocking_change(one, Plan(name="x", out="o", base="b", runs=("r",), concurrency=8).settings()) is None
    assert blocking_change(one, Plan(name="x", out="o", base="b", runs=("r",), quant="f16").settings()) == "quant"
    sampled = Plan(name="x", out="o", base="b", dataset="arith:seed=10[0:20]").settings()
    other = Plan(name="x", out="o", base="b", dataset="arith:seed=11[0:20]", rounds=2).settings()
    assert blocking_change(sampled, other) == "dataset"  # round 1 sampled that set: another is another model
    assert blocking_change(sampled, Plan(name="x", out="o", base="b", dataset="arith:seed=10[0:20]",
                                         n=4).settings()) == "n"
    out = tmp_path / "d"
    out.mkdir()
    plan = Plan(name="x", out=str(out), base="smollm2-135m", runs=("r",), dataset="arith", rounds=2)
    (out / "distill.json").write_text(json.dumps({"name": "x", "settings": {**plan.settings(), "rounds": 3},
                                                  "rounds": [{"round": 1}, {"round": 2}, {"round": 3}]}))
    with pytest.raises(ConfigError, match="rounds=2.*holds 3 rounds already"):
        run(plan)


def write_run(path, records, model="qwen2.5-coder-0.5b"):
    path.mkdir(parents=True)
    (path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (path / "run.json").write_text(json.dumps({"model": model, "strategy": "vote", "instruction": None}))
    return str(path)


def test_cli_bad_input_is_one_line_exit_2(tmp_path, monkeypatch):
    monkeypatch.setenv("PONDER_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    unlabelled = write_run(tmp_path / "u", [rec("q1", [cand("4", "4")], reference=None)])
    empty = write_run(tmp_path / "e", [rec("q1", [])])
    for args, needle in [
        (["distill", "--name", "x"], "runs=[]"),
        (["distill", unlabelled, "--name", "x"], "mode='verified'"),
        (["distill", empty, "--name", "x"], "has no samples"),
        (["distill", unlabelled, "--name", "bad/name"], "name='bad/name'"),
        (["distill", unlabelled, "--name", "smollm2-135m"], "packaged model"),
        (["distill", unlabelled, "--name", "x", "--mode", "teacher"], "base=None"),
        (["distill", str(tmp_path / "nope"), "--name", "x", "--base", "smollm2-135m"], "no such run directory"),
        (["distill", unlabelled, "--name", "x", "--mode", "majority", "--base", str(tmp_path)], "without config.json"),
        (["distill", unlabelled, "--name", "x", "--mode", "majority", "--base", "gpt-9"], "base='gpt-9'"),
    ]:
        out = runner.invoke(app, args)
        assert out.exit_code == 2, (args, out.output)
        assert needle in out.output.replace("\n", ""), (args, out.output)
        assert "Traceback" not in out.output
    assert not (tmp_path / "runs").exists()  # a refused plan leaves nothing behind


# -- the whole loop on the packaged 135M model (few steps, a tiny set) --------------------------------

def tiny_examples(k):
    from ponder.distill.data import Example

    return [Example(problem_id=f"p{i}", question=f"Ava has {i} apples and gets 2 more. How many now?",
                    completion=f"{i} + 2 = {i + 2}. The answer is \\boxed{{{i + 2}}}.") for i in range(k)]


def adapter_weights(path):
    from safetensors.torch import load_file

    return load_file(str(path / "adapter" / "adapter_model.safetensors"))


@pytest.mark.e2e
def test_training_reproduces_with_a_seed_and_resumes_where_it_stopped(tmp_path, hf_test_model):
    import random

    import torch

    from ponder.distill.train import TrainConfig, train_lora

    cfg = TrainConfig(epochs=2, batch_size=2, grad_accum=1, save_steps=2, seed=7, max_length=256)
    train, val = tiny_examples(4), tiny_examples(5)[4:]
    random.seed(1)
    torch.manual_seed(1)
    before = (random.getstate(), torch.get_rng_state())
    first = train_lora(hf_test_model, train, val, tmp_path / "a", cfg)
    assert random.getstate() == before[0] and torch.equal(torch.get_rng_state(), before[1])  # process RNGs untouched
    assert first.steps == 4 and first.val_loss_after < first.val_loss_before
    assert first.flops > 4 * first.n_params * first.train_tokens
    second = train_lora(hf_test_model, train, val, tmp_path / "b", cfg)
    assert second.train_loss == first.train_loss
    wa, wb = adapter_weights(tmp_path / "a"), adapter_weights(tmp_path / "b")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)

    class Stop(Exception):
        pass

    def stop_at_3(e):
        if e.get("step") == 3:
            raise Stop

    with pytest.raises(Stop):
        train_lora(hf_test_model, train, val, tmp_path / "c", cfg, progress=stop_at_3)
    resumed = train_lora(hf_test_model, train, val, tmp_path / "c", cfg)
    assert resumed.resumed_from.endswith("checkpoint-2") and resumed.steps == 4
    wc = adapter_weights(tmp_path / "c")
    assert all(torch.allclose(wa[k], wc[k], atol=1e-6) for k in wa)  # the resumed run ends where the whole run did


@pytest.mark.e2e
def test_distill_cli_trains_converts_registers_and_the_model_answers(tmp_path, monkeypatch, hf_test_model):
    from conftest import TEST_MODEL
    from ponder.backends.llamacpp import LlamaCppGenerator
    from ponder.models import local_models, packaged_name, resolve_checkpoint
    from ponder.params import SamplingParams
    from ponder.types import GenRequest, Message

    monkeypatch.setenv("PONDER_CACHE", str(tmp_path / "cache"))
    records = [rec(f"q{i}", [cand(f"{i} + 2 = {i + 2}. The answer is \\boxed{{{i + 2}}}.", str(i + 2), True),
                             cand("I do not know, 3", "3", i + 2 == 3)],
                   reference=str(i + 2), question=f"Ava has {i} apples and gets 2 more. How many now?")
               for i in range(6)]
    run = write_run(tmp_path / "logs", records, model=TEST_MODEL)
    args = ["distill", run, "--name", "tiny-rft", "--base", str(hf_test_model), "--epochs", "1", "--batch-size", "2",
            "--grad-accum", "1", "--per-question", "1", "--val-fraction", "0.2", "--out", str(tmp_path / "d")]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "tiny-rft" in out.output and "training" in out.output
    state = json.loads((tmp_path / "d" / "distill.json").read_text())
    r1 = state["rounds"][0]
    assert r1["selection"]["train_examples"] + r1["selection"]["val_examples"] == 6
    assert r1["train"]["flops"] > 0 and r1["train"]["val_loss_after"] is not None
    model = local_models()["tiny-rft"]
    assert packaged_name("tiny-rft") == "tiny-rft" and packaged_name(model.gguf) == "tiny-rft"
    assert resolve_checkpoint("tiny-rft") == model.checkpoint
    listed = runner.invoke(app, ["models"])
    assert "tiny-rft" in listed.output and "distilled" in listed.output
    gen = LlamaCppGenerator("tiny-rft", n_ctx=1024, n_seq_max=1)
    try:
        [resp] = gen.generate_sync([GenRequest(messages=(Message("user", "Ava has 5 apples and gets 2 more."),),
                                               params=SamplingParams(temperature=0.0, max_tokens=24))])
    finally:
        gen.close()
    assert resp.outputs[0].text.strip() and resp.outputs[0].completion_tokens > 0
    again = runner.invoke(app, args)  # a rerun finds the round done: nothing is trained twice
    assert again.exit_code == 0 and "training LoRA" not in again.output


@pytest.mark.e2e
def test_rounds_sample_with_the_last_round_model_and_train_the_base_again(tmp_path, monkeypatch, hf_test_model):
    # expert iteration on four sums: round 1 learns from a log of right answers, round 2 samples the
    # same questions with round 1's model (which has learned them), keeps its right samples and trains
    # the base model again on them
    monkeypatch.setenv("PONDER_CACHE", str(tmp_path / "cache"))
    sums = [(2, 3), (4, 1), (6, 2), (3, 3)]
    questions = tmp_path / "sums.jsonl"
    questions.write_text("".join(json.dumps({"question": f"What is {a} + {b}?", "answer": str(a + b)}) + "\n"
                                 for a, b in sums))
    log = write_run(tmp_path / "logs", [
        rec(f"sums-{i}", [cand(f"{a} + {b} = {a + b}. The answer is \\boxed{{{a + b}}}.", str(a + b), True)],
            reference=str(a + b), question=f"What is {a} + {b}?") for i, (a, b) in enumerate(sums)])
    args = ["distill", log, "--name", "sums", "--base", str(hf_test_model), "--per-question", "1",
            "--max-tokens", "32", "--epochs", "6", "--lr", "0.003", "--batch-size", "4", "--grad-accum", "1",
            "--val-fraction", "0", "--out", str(tmp_path / "d"), "--eval", str(questions)]
    first = runner.invoke(app, args)  # one round, from the log
    assert first.exit_code == 0, first.output
    from ponder.models import local_models

    scored = local_models()["sums"].description  # what `ponder models` shows: how the model scored
    assert "round 1 of 1" in scored and f"% on {questions} (4 questions)" in scored, scored
    out = runner.invoke(app, [*args, "-d", str(questions), "-n", "4", "--rounds", "2"])  # then iterate on
    assert out.exit_code == 0, out.output
    assert "round 2: sampling" in out.output and "round-1/model.gguf" in out.output
    assert "round 1: training" not in out.output  # round 1 is continued, not trained again
    fewer = runner.invoke(app, args)
    assert fewer.exit_code == 2 and "holds 2 rounds already" in fewer.output
    state = json.loads((tmp_path / "d" / "distill.json").read_text())
    r1, r2 = state["rounds"]
    assert r1["sampled_from"] == ["logs"] and r2["sampled_from"] == ["round-2/samples"]
    sampled = json.loads((tmp_path / "d" / "round-2" / "samples" / "run.json").read_text())
    assert sampled["n"] == 4 and sampled["dataset"] == str(questions)
    assert r2["sample_accuracy"] > 0 and r2["selection"]["train_examples"] > 0  # round 1's model learned the sums
    assert r2["sampling_flops"] > 0 and r1["sampling_flops"] == 0  # round 1's log carries no FLOPs
    models = local_models()
    assert {"sums-r1", "sums-r2", "sums"} <= set(models)
    assert models["sums"].gguf == models["sums-r2"].gguf != models["sums-r1"].gguf
    evaluated = json.loads((tmp_path / "d" / "round-1" / "eval" / "run.json").read_text())
    assert evaluated["model_sha256"] == models["sums-r1"].sha256 != models["sums"].sha256  # a log names its file
    assert models["sums-r2"].base == str(hf_test_model)  # each round trains the base, not the last round's model
    assert models["sums-r2"].meta["eval"]["questions"] == 4 == r2["eval"]["questions"]


@pytest.mark.e2e
def test_a_distilled_name_is_a_model_in_ask_and_serve_and_an_arm_of_cascade(tmp_path, monkeypatch):
    # the real embedded model's GGUF registered as if `ponder distill` had made it: every front end
    # that takes --model takes its name, and `cascade` loads it as its large model on llama.cpp
    from conftest import model_path_or_skip
    from ponder.cli import serve
    from ponder.models import LocalModel, register_local

    gguf = model_path_or_skip()
    monkeypatch.setenv("PONDER_CACHE", str(tmp_path / "cache"))
    register_local(LocalModel(name="smol-rft", gguf=str(gguf), base="smollm2-135m", description="test"))
    out = runner.invoke(app, ["ask", "What is 2 + 3?", "--model", "smol-rft", "--strategy", "cascade", "-n", "1",
                              "--option", "probe=2", "--option", "large=smol-rft", "--max-tokens", "24",
                              "--seed", "0", "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.output)
    [ev] = [e for e in got["trace"] if e["event"] == "cascade"]
    assert len(ev["probe_answers"]) == 2 and got["usage"]["completion_tokens"] > 0
    apps = []
    monkeypatch.setattr(serve, "run_server", lambda app_, **kw: apps.append(app_))
    served = runner.invoke(app, ["serve", "--model", "smol-rft", "--strategy", "cascade", "-n", "2",
                                 "--option", "large=smol-rft"])
    assert served.exit_code == 0, served.output
    svc = apps[0].state.ponder
    assert [str(g.inner.path) for g in svc.arms.values()] == [str(gguf)]  # the arm is the registered file
    gone = runner.invoke(app, ["ask", "q", "--model", "smol-rft2"])
    assert gone.exit_code == 2 and "smol-rft)" in gone.output.replace("\n", "")  # a typo lists the models there are
