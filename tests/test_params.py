import pytest

from ponder import Budget, ConfigError, Problem, SamplingParams, Usage
from ponder.types import GenRequest


@pytest.mark.parametrize("field,value", [
    ("temperature", -0.1), ("temperature", float("nan")), ("top_p", 0.0), ("top_p", 1.5),
    ("top_k", -1), ("top_k", 2.5), ("max_tokens", 0), ("min_p", 2.0), ("logprobs", 21),
    ("stop", ("",)), ("max_tokens", True),
])
def test_bad_sampling_params_name_the_field_and_value(field, value):
    with pytest.raises(ConfigError) as e:
        SamplingParams(**{field: value})
    assert e.value.param == field
    assert repr(value) in str(e.value) or str(value) in str(e.value)


def test_merge_returns_validated_copy():
    base = SamplingParams()
    merged = base.merge(temperature=0.0, max_tokens=None, stop="\n\n")
    assert merged.temperature == 0.0 and merged.max_tokens == base.max_tokens
    assert merged.stop == ("\n\n",)
    assert base.temperature == 0.7  # unchanged
    with pytest.raises(ConfigError, match="max_tokens=-3"):
        base.merge(max_tokens=-3)
    with pytest.raises(ConfigError, match="is not a sampling parameter"):
        base.merge(beam=4)


@pytest.mark.parametrize("kw", [{"samples": 0}, {"tokens": -5}, {"wall_s": 0}])
def test_bad_budget(kw):
    with pytest.raises(ConfigError, match="budget."):
        Budget(**kw)


def test_problem_and_request_validation():
    with pytest.raises(ConfigError, match="prompt=''"):
        Problem(prompt="")
    with pytest.raises(ConfigError, match="exactly one"):
        Problem()
    with pytest.raises(ConfigError, match="n=0"):
        GenRequest(prompt="x", n=0)
    p = Problem(messages=[{"role": "user", "content": "hi"}])
    assert p.question == "hi"


def test_usage_sums_and_unknown_stays_unknown():
    a = Usage(prompt_tokens=10, completion_tokens=5, calls=1, wall_s=1.0, flops_estimate=100.0)
    b = Usage(prompt_tokens=3, completion_tokens=2, calls=2, wall_s=0.5, flops_estimate=None)
    s = a + b
    assert (s.prompt_tokens, s.completion_tokens, s.calls, s.wall_s) == (13, 7, 3, 1.5)
    assert s.flops_estimate is None  # unknown, not zero
    assert sum([a, a]) == a + a
    assert Usage(prompt_tokens=None).total_tokens is None


def test_sample_rows_draws_what_sample_token_draws():
    import numpy as np

    from ponder.backends.sampling import sample_rows, sample_token

    logits = np.random.default_rng(0).normal(size=(7, 300)).astype(np.float32) * 3
    for p in (SamplingParams(temperature=0.7), SamplingParams(temperature=0),
              SamplingParams(temperature=1.0, top_k=5), SamplingParams(temperature=0.9, top_p=0.8, min_p=0.05)):
        for seed in range(5):
            rows = sample_rows(logits, p, [np.random.default_rng([seed, i]) for i in range(7)])
            one = [sample_token(logits[i], p, np.random.default_rng([seed, i])) for i in range(7)]
            assert rows == one
