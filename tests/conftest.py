"""Shared fixtures: the real embedded model for the few end-to-end tests (loaded once per session)."""

from __future__ import annotations

import os

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
