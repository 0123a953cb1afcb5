"""Helpers for tests and benchmarks: run a ponder app, or llama-cpp-python's OpenAI-compatible server,
on a free local port; watch what a generator is asked (`Watched`). Library code (like the scripted
fakes) so users can test their own deployments the same way. uvicorn and llama-cpp-python are
imported only when used.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any


class Watched:
    """A generator that passes every call through to `inner`, keeping the requests it was sent
    (`sent`) and the wall time spent inside its calls (`inside`)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.inside = inner, 0.0
        self.sent: list[Any] = []

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def capabilities(self) -> Any:
        return self.inner.capabilities

    async def generate(self, requests: Any, *, progress: Any = None) -> Any:
        self.sent.extend(requests)
        t0 = time.perf_counter()
        try:
            return await self.inner.generate(requests, progress=progress)
        finally:
            self.inside += time.perf_counter() - t0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """An ASGI app (e.g. `create_app(...)`) served by uvicorn in a background thread."""

    def __init__(self, app: Any, *, start_timeout_s: float = 10.0, **config: Any) -> None:
        import uvicorn

        self.app, self.port = app, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error",
                                                    **config))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + start_timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the app did not start on {self.url}")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_llama_server(model_path: str | os.PathLike, *, n_ctx: int = 2048, n_threads: int | None = None,
                       start_timeout_s: float = 60.0) -> tuple[subprocess.Popen, str]:
    """`python -m llama_cpp.server` with a GGUF on a free loopback port; returns (process, url) once
    it answers /v1/models. Raises RuntimeError (and kills it) if it does not. `n_threads` sets both
    decode and batch threads (the server's own default decodes on half the cores: one thread on a
    2-core machine). Requests queue (`--interrupt_requests false`): by default that server cuts off a
    running stream when another request arrives, which concurrent clients (streamed samples) hit."""
    import httpx

    port = free_port()
    threads = [] if n_threads is None else ["--n_threads", str(n_threads), "--n_threads_batch", str(n_threads)]
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host",
                             "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--verbose", "false",
                             "--interrupt_requests", "false", *threads],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/v1/models", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("llama_cpp.server exited during start-up")
        time.sleep(0.25)
    proc.kill()
    raise RuntimeError(f"llama_cpp.server did not start in {start_timeout_s:.0f} s")
