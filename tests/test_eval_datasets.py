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
