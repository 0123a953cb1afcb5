"""The parts of the vLLM backend that need no vLLM: seeds, parameter counts, logprob and delta
conversion, and the CLI's backend options and errors (these run in the main environment)."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest
from typer.testing import CliRunner

from ponder.backends.vllm import _Acc, _token_logprob, count_parameters, sample_seed
from ponder.cli import _backend_options, app
from ponder.errors import ConfigError
from ponder.types import ConfidenceStop

Logprob = namedtuple("Logprob", "logprob rank decoded_token")
Delta = namedtuple("Delta", "text token_ids logprobs finish_reason stop_reason")


def test_sample_seeds_follow_vllm_and_keep_requests_apart():
    assert sample_seed(7, 3) == sample_seed(7, 0) + 3  # vLLM's child i of a seeded n-request: seed + i
    assert sample_seed(7, 0) == sample_seed(7, 0) and 0 <= sample_seed(7, 0) < 2 ** 56
    # neighbouring request seeds must not hand out overlapping sample seeds
    starts = sorted(sample_seed(s, 0) for s in range(1000))
    assert min(b - a for a, b in zip(starts, starts[1:], strict=False)) > 1024


def test_count_parameters_reads_safetensors_headers(tmp_path):
    from safetensors.numpy import save_file

    save_file({"a": np.zeros((3, 4), np.float32), "b": np.zeros(5, np.float16)}, str(tmp_path / "m.safetensors"))
    save_file({"c": np.zeros((2, 2, 2), np.float32)}, str(tmp_path / "n.safetensors"))
    assert count_parameters(tmp_path) == 12 + 5 + 8
    assert count_parameters(tmp_path / "missing") is None
    assert count_parameters("Org/some-hf-id") is None


def test_token_logprob_keeps_the_top_k_and_the_chosen_token():
    d = {5: Logprob(-3.0, 4, "x"), 1: Logprob(-0.5, 1, "a"), 2: Logprob(-1.0, 2, "b"), 3: Logprob(-2.0, 3, "c")}
    t = _token_logprob(5, d, k=3)
    assert t.token == "x" and t.logprob == -3.0
    assert t.top == (("a", -0.5), ("b", -1.0), ("c", -2.0))  # the chosen token ranks 4th: not an alternative
    assert _token_logprob(2, {2: Logprob(-1.0, 2, "b")}, k=0).top == ()


def test_deltas_accumulate_with_finish_reasons_and_confidence():
    acc, cs = _Acc(), ConfidenceStop(threshold=1.0, window=2, top_k=1)
    lp = {1: Logprob(-0.25, 1, "a")}
    assert acc.add(Delta("a", [1], [lp], None, None), 1, cs) == 1
    assert acc.add(Delta("ab", [1, 1], [lp, lp], "stop", "\n\n"), 1, cs) == 2
    assert "".join(acc.text) == "aab" and acc.ids == [1, 1, 1] and acc.finish == "stop"
    assert acc.stop_string == "\n\n" and acc.conf == [0.25] * 3
    eos = _Acc()
    eos.add(Delta("", [2], None, "stop", 2), 0, None)  # stopped by a token id (EOS): no stop string
    assert eos.finish == "stop" and eos.stop_string is None and eos.lps == []
    aborted = _Acc()
    aborted.add(Delta("", [], None, "abort", None), 0, None)
    assert aborted.finish is None  # the caller sets cutoff/deadline when it aborts


def test_backend_options_parse_json_values():
    assert _backend_options(["tensor_parallel_size=2", "enforce_eager=true", "dtype=bfloat16",
                             "max_model_len=4096", "gpu_memory_utilization=0.8"]) == {
        "tensor_parallel_size": 2, "enforce_eager": True, "dtype": "bfloat16", "max_model_len": 4096,
        "gpu_memory_utilization": 0.8}
    with pytest.raises(ConfigError, match="backend-option"):
        _backend_options(["tensor_parallel_size"])


def test_cli_vllm_errors_are_clear(tmp_path):
    r = CliRunner().invoke(app, ["ask", "q", "--backend", "vllm"])
    assert r.exit_code == 2 and "model" in r.output and "vllm backend needs --model" in r.output
    r = CliRunner().invoke(app, ["ask", "q", "--backend", "vllm", "--model", str(tmp_path / "none")])
    assert r.exit_code == 2 and "no such directory" in r.output
    r = CliRunner().invoke(app, ["ask", "q", "--backend", "vllm", "--model", "x.gguf"])
    assert r.exit_code == 2 and "convert-gguf" in r.output
    r = CliRunner().invoke(app, ["ask", "q", "-O", "oops"])
    assert r.exit_code == 2 and "backend-option='oops'" in r.output
    r = CliRunner().invoke(app, ["ask", "q", "--backend", "openai", "--base-url", "http://x.test", "-O", "n_gpu=2"])
    assert r.exit_code == 2 and "n_gpu=2: is not an option of the openai backend" in r.output


def test_cli_reports_a_missing_vllm_install(tmp_path):
    try:
        import vllm  # noqa: F401
        pytest.skip("vllm is installed here")
    except ImportError:
        pass
    r = CliRunner().invoke(app, ["ask", "q", "--backend", "vllm", "--model", str(tmp_path)])
    assert r.exit_code == 1 and "pip install vllm" in r.output
