"""CLI input errors: exit status 2 and a message naming the parameter (no model needed)."""

import pytest
from typer.testing import CliRunner

from ponder.cli import app

runner = CliRunner()


@pytest.mark.parametrize("args,needle", [
    (["ask", "   "], "prompt="),
    (["ask", "q", "--strategy", "beamz"], "strategy='beamz'"),
    (["ask", "q", "--n", "0"], "n=0"),
    (["ask", "q", "--strategy", "greedy", "--n", "4"], "n=4"),
    (["ask", "q", "--verifier", "oracle9"], "verifier='oracle9'"),
    (["ask", "q", "--model", "/no/such/model.gguf"], "model='/no/such/model.gguf'"),
    (["ask", "q", "--max-tokens", "0"], "max_tokens=0"),
    (["ask", "q", "--backend", "grpc"], "backend='grpc'"),
    (["ask", "q", "--backend", "openai"], "base_url=None"),
    (["pull", "gpt-5"], "name='gpt-5'"),
])
def test_bad_input_exits_2_naming_the_parameter(args, needle):
    out = runner.invoke(app, args)
    assert out.exit_code == 2, out.output
    assert needle in out.output.replace("\n", "")


def test_models_lists_the_packaged_models():
    out = runner.invoke(app, ["models"])
    assert out.exit_code == 0
    for name in ("smollm2-135m", "qwen2.5-coder-0.5b"):
        assert name in out.output
