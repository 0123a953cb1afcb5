"""llama-cpp-python as ponder loads it: the import (with a clear error), its C log kept quiet unless
the application asks, whether a GPU build sees a device, the memory API the scheduler uses, and a
model's text side (chat template, tokenizer, token pieces)."""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path
from typing import Any

from ponder.errors import ConfigError
from ponder.types import GenRequest


def quiet_unless_configured(name: str, level: int | None = None) -> None:
    """llama.cpp's C log goes to the `llama-cpp-python` logger and prints everything while that
    logger's level is unset. Quiet it if the application has not set a level itself (its choice wins);
    `verbose=True` asks for everything.

    Quiet means CRITICAL, not ERROR: llama-cpp-python 0.3.x maps ggml's log levels with a stale table
    (ggml now numbers DEBUG 1, INFO 2, WARN 3, ERROR 4), so its ERROR is ggml's WARN, and at ERROR a
    harmless warning such as `n_ctx_seq > n_ctx_train` (unified KV cells shared by 16 short sequences)
    lands on the stderr of `ponder ask --json`. ggml's real errors map to DEBUG there, so no level
    between shows them; ponder raises on the failures they describe."""
    logger = logging.getLogger(name)
    if level is not None:
        logger.setLevel(level)
    elif logger.level == logging.NOTSET:
        logger.setLevel(logging.CRITICAL)


def import_llama_cpp() -> Any:
    try:
        import llama_cpp
        from llama_cpp import _internals
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the llama.cpp backend needs llama-cpp-python: install ponder[llamacpp] "
            "(see README: it must be built with AMX off on some CPUs)") from e
    return llama_cpp, _internals


_GPU_LIBS = ("cuda", "hip", "vulkan", "metal", "sycl", "musa", "opencl")


def gpu_offload_available() -> bool:
    """True when llama.cpp was built with a GPU backend and sees a device to offload to.

    llama.cpp is asked only when its package ships a GPU backend library: the question initialises
    every backend, and on CPUs that advertise AMX without running it that alone is an illegal
    instruction (a CPU build then has nothing to offload to anyway)."""
    ll, _ = import_llama_cpp()
    lib = Path(ll.__file__).parent / "lib"
    if not any(next(lib.glob(f"*ggml-{name}*"), None) for name in _GPU_LIBS):
        return False
    try:
        return bool(ll.llama_supports_gpu_offload())
    except AttributeError:  # pragma: no cover - very old bindings
        return False


class LlamaMemory:
    """The scheduler's `Memory` over llama.cpp's memory API."""

    def __init__(self, ll: Any, ctx: Any) -> None:
        self._ll, self._ctx = ll, ctx

    def seq_rm(self, seq: int) -> None:
        self._ll.llama_memory_seq_rm(self._ctx.memory, seq, -1, -1)

    def seq_cp(self, src: int, dst: int) -> None:
        self._ll.llama_memory_seq_cp(self._ctx.memory, src, dst, -1, -1)


class LlamaText:
    """A loaded model's text side: its chat template (the GGUF's own, rendered with Jinja as
    llama-cpp-python does), tokenizer and token pieces (cached)."""

    def __init__(self, ll: Any, model: Any, vocab: Any, metadata: dict[str, Any], name: str) -> None:
        self._ll, self._model, self._vocab, self.name = ll, model, vocab, name
        self._bos = model.token_bos()
        self._add_bos = bool(model.add_bos_token())
        self._pieces: dict[int, bytes] = {}
        self._formatter = self._make_formatter(metadata.get("tokenizer.chat_template"))
        self.chat = self._formatter is not None

    def _make_formatter(self, template: str | None) -> Any:
        if not template:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        def text_of(tok: int) -> str:
            return self._model.token_get_text(tok) if tok >= 0 else ""

        return Jinja2ChatFormatter(template=template, eos_token=text_of(self._model.token_eos()),
                                   bos_token=text_of(self._bos), add_generation_prompt=True)

    def render(self, req: GenRequest) -> str:
        """The exact text the model sees for a request (chat template applied)."""
        if req.messages is None:
            return (req.prompt or "") + req.prefix
        if self._formatter is None:
            raise ConfigError("messages", [m.role for m in req.messages],
                              f"model {self.name} has no chat template; send a raw prompt")
        msgs = [{"role": m.role, "content": m.content} for m in req.messages]
        return str(self._formatter(messages=msgs).prompt) + req.prefix

    def tokenize(self, text: str) -> list[int]:
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError as e:  # a lone surrogate, e.g. "\ud800" from JSON
            raise ConfigError("prompt", text[max(0, e.start - 10): e.end + 10],
                              "is not valid Unicode text (a lone surrogate)") from e
        toks: list[int] = self._model.tokenize(data, add_bos=self._add_bos, special=True)
        if len(toks) > 1 and toks[0] == self._bos and toks[1] == self._bos:
            toks = toks[1:]  # the template wrote its own BOS
        return toks

    def piece(self, tok: int) -> bytes:
        p = self._pieces.get(tok)
        if p is None:
            buf = ctypes.create_string_buffer(256)
            n = self._ll.llama_token_to_piece(self._vocab, tok, buf, 256, 0, False)
            p = self._pieces[tok] = buf.raw[: max(n, 0)]
        return p
