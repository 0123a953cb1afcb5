"""Shared fixtures: the real embedded model for the few end-to-end tests (loaded once per session)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
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
    """llama-cpp-python's OpenAI-compatible server on a free loopback port; returns (process, url)
    once it answers /v1/models."""
    pytest.importorskip("llama_cpp.server.app")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host",
                             "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--verbose", "false"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            if httpx.get(url + "/v1/models", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            pytest.fail("llama_cpp.server exited during start-up")
        time.sleep(0.5)
    proc.kill()
    pytest.fail("llama_cpp.server did not start in 60 s")


@pytest.fixture(scope="session")
def server_url():
    """A real OpenAI-compatible server (llama-cpp-python's) with the test model, on loopback."""
    proc, url = start_llama_server(model_path_or_skip())
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
