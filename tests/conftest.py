"""Shared fixtures: the real embedded model for the few end-to-end tests (loaded once per session)."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest

TEST_MODEL = os.environ.get("PONDER_TEST_MODEL", "smollm2-135m")


@pytest.fixture(scope="session")
def llama():
    """The small packaged model through the llama.cpp backend; skipped when unavailable."""
    pytest.importorskip("llama_cpp")
    from ponder.backends.llamacpp import LlamaCppGenerator
    from ponder.errors import ModelNotFoundError

    try:
        gen = LlamaCppGenerator(TEST_MODEL, n_ctx=4096, n_seq_max=8)
    except ModelNotFoundError as e:
        pytest.skip(str(e))
    yield gen
    gen.close()


def model_path_or_skip():
    """The packaged test model's GGUF, or skip the test when it is not installed."""
    from ponder.errors import ModelNotFoundError
    from ponder.models import resolve_model

    try:
        return resolve_model(TEST_MODEL)
    except ModelNotFoundError as e:
        pytest.skip(str(e))


def start_llama_server(path, n_ctx=2048):
    """llama-cpp-python's server with `path` on loopback (ponder.testing); fails the test if it cannot."""
    pytest.importorskip("llama_cpp.server.app")
    from ponder.testing import start_llama_server as start

    try:
        return start(path, n_ctx=n_ctx)
    except RuntimeError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="session")
def server_url():
    """A real OpenAI-compatible server (llama-cpp-python's) with the test model, on loopback."""
    proc, url = start_llama_server(model_path_or_skip())
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="session")
def hf_test_model():
    """The packaged test model converted once to a Hugging Face checkpoint (for vLLM, which does not
    read GGUF), cached under the ponder cache so later runs reuse it."""
    pytest.importorskip("gguf")
    from ponder.convert import convert_gguf
    from ponder.models import cache_dir

    gguf = model_path_or_skip()
    out = cache_dir() / "hf" / f"{TEST_MODEL}-{os.path.getsize(gguf)}"
    if not (out / "config.json").exists() or not list(out.glob("*.safetensors")):
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        convert_gguf(gguf, tmp)
        if out.exists():  # a half-written copy from an interrupted run
            import shutil

            shutil.rmtree(out)
        tmp.replace(out)
    return out


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With PONDER_REQUIRE_E2E=1 (set by `make test`, so in CI) a skipped test fails: a broken model
    or backend install must turn CI red, not report "1 skipped" and stay green."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("PONDER_REQUIRE_E2E") == "1":
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, but PONDER_REQUIRE_E2E=1 requires every test to run: {reason}"


def pytest_collectreport(report):
    """A module skipped at collection (a failed importorskip) fails too under PONDER_REQUIRE_E2E=1."""
    if report.skipped and os.environ.get("PONDER_REQUIRE_E2E") == "1":
        report.outcome = "failed"


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A real (tiny) installed distribution on sys.path with a dist-info declaring entry points."""
    (tmp_path / "myplug.py").write_text(textwrap.dedent('''
        from ponder.strategies.vote import MajorityVote
        from ponder import ScriptedGenerator
        from ponder.verifiers.confidence import ConfidenceVerifier

        class Triple(MajorityVote):
            name = "triple"
            def __init__(self, n, *, factor=3):
                super().__init__(n * factor)

        def judge(generator):
            return ConfidenceVerifier("mean")

        def backend(model, *, answer="5", fail=False):
            from ponder.errors import FatalBackendError

            down = [FatalBackendError("the backend is down")] * 100 if fail else []
            return ScriptedGenerator([f"so \\\\boxed{{{answer}}}"], name=f"plug:{model}", errors=down)

        def broken(n):
            raise RuntimeError("never")

        from ponder.strategies.spec import Cost, Options, StrategySpec, opt

        class QuadOptions(Options):
            factor: int = opt(4, ge=1, count=True, help="samples per unit of N")

        class Quad(MajorityVote):
            name = "quad"
            def __init__(self, n, **options):
                super().__init__(n * QuadOptions.parse(options, who="strategy 'quad'").factor)

        SPEC = StrategySpec(name="quad", build=Quad, options=QuadOptions, summary="n x factor samples, voted",
                            cost=lambda n, o, max_tokens: Cost(n * o.factor, n * o.factor * max_tokens))
    '''))
    dist = tmp_path / "myplug-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent("""
        [ponder.strategies]
        triple = myplug:Triple
        quad = myplug:SPEC
        missing = myplug:NoSuchThing
        [ponder.verifiers]
        my-judge = myplug:judge
        [ponder.backends]
        scripted = myplug:backend
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("myplug", None)
