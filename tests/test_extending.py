"""The "Extending ponder" guide's worked example, run as written: one file, one entry point."""

import asyncio
import re
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ponder import ConfigError, Engine, Problem, ScriptedGenerator
from ponder.cli import app
from ponder.params import SamplingParams
from ponder.registry import make_strategy, strategy_spec

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide" / "extending.md"


@pytest.fixture
def k_agree(tmp_path, monkeypatch):
    code = re.search(r"```python\n(.*?)```", GUIDE.read_text(), re.S).group(1)
    (tmp_path / "k_agree.py").write_text(code)
    dist = tmp_path / "kagree-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: kagree\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent("""
        [ponder.strategies]
        k-agree = k_agree:SPEC
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("k_agree", None)


def test_the_guides_strategy_works_from_its_one_file(k_agree):
    answers = iter(["1", "2", "2", "3", "2", "9", "9", "9"])  # the third "2" arrives in the third round
    gen = ScriptedGenerator(lambda req, i, rng: f"so \\boxed{{{next(answers)}}}")
    strat = make_strategy("k-agree", 8, k=3)
    r = asyncio.run(Engine(gen, strat, params=SamplingParams(temperature=0.7)).asolve(Problem(prompt="q")))
    assert r.answer == "2" and len(r.candidates) == 6  # stopped once three agreed, not at N = 8
    with pytest.raises(ConfigError, match="k=1: must be an integer >= 2"):
        make_strategy("k-agree", 8, k=1)
    with pytest.raises(ConfigError, match=r"colour='red': is not an option of strategy 'k-agree' \(options: k, batch"):
        make_strategy("k-agree", 8, colour="red")
    assert strategy_spec("k-agree").bound(12, {}, 100).tokens == 1200 and strategy_spec("k-agree").default_n == 12
    out = CliRunner().invoke(app, ["strategies", "k-agree"])
    assert out.exit_code == 0 and "samples that must agree" in out.output
