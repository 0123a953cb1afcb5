"""llama.cpp backend (llama-cpp-python's low-level API): the embedded, CPU, quantised default.

Why the low-level API: the n samples of one question must evaluate the prompt once and then decode
together as parallel sequences in one llama.cpp batch. We decode the prompt into one sequence, copy its
KV cells to n-1 more sequence ids (a unified KV cache lets them share the cells), and then every decode
step carries one token per live sequence. Several requests are packed into the same batch when their
sequences fit (n_seq_max) and their tokens fit the context. The prompt of the last batch is kept in
the cache, so a request that repeats a prefix (a judge scoring candidates of one question, step search)
only evaluates what is new.

Logits are read only at the positions we sample; sampling and logprobs are done in numpy
(`ponder.backends.sampling`) with one seeded RNG per sample.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:  # llama.cpp's shared libraries load before numpy's: the other order segfaults at model load with a
    import llama_cpp  # noqa: F401  CUDA build (seen with numpy 2.5 / CUDA 13; see docs/design/gpu.md)
except ImportError:  # pragma: no cover - reported when the generator is built
    pass
import numpy as np

from ponder.answers import answer_written
from ponder.backends.base import Capabilities, ProgressFn, cancellable
from ponder.backends.sampling import sample_rows, token_logprobs
from ponder.errors import ConfigError, FatalBackendError, ModelNotFoundError
from ponder.models import resolve_model
from ponder.types import GenOutput, GenRequest, GenResponse, TokenLogprob
from ponder.usage import Usage

log = logging.getLogger(__name__)


def _quiet_unless_configured(name: str, level: int | None = None) -> None:
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


def _import_llama_cpp() -> Any:
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
    ll, _ = _import_llama_cpp()
    lib = Path(ll.__file__).parent / "lib"
    if not any(next(lib.glob(f"*ggml-{name}*"), None) for name in _GPU_LIBS):
        return False
    try:
        return bool(ll.llama_supports_gpu_offload())
    except AttributeError:  # pragma: no cover - very old bindings
        return False


@dataclass
class _Sample:
    job: int
    index: int  # sample index within its request
    seq: int
    pos: int
    rng: np.random.Generator
    tokens: list[int] = field(default_factory=list)
    pieces: list[bytes] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish: str | None = None
    text: str | None = None
    stop_string: str | None = None
    conf: list[float] = field(default_factory=list)  # token confidences, for ConfidenceStop
    owner: _Admission | None = None  # set for samples of a call that joined a running decode


@dataclass
class _Admission:
    """A call that arrived while another one decoded: its requests join the running decode loop
    (continuous batching) when sequences and cells allow, and it is answered when its own samples
    finish, not when the other call's do."""

    requests: list[GenRequest]
    prompts: list[list[int]]
    progress: ProgressFn | None
    done: threading.Event = field(default_factory=threading.Event)
    result: list[GenResponse] | None = None
    error: BaseException | None = None
    samples: list[list[_Sample]] = field(default_factory=list)
    evaluated: list[int] = field(default_factory=list)
    left: int = 0
    t0: float = field(default_factory=time.perf_counter)


@dataclass
class _Job:
    """A request, or a slice of its samples when n exceeds the sequences of one batch."""

    req: int
    tokens: list[int]
    samples: range


class LlamaCppGenerator:
    """Generator over a local GGUF model.

    model: a packaged model name (see `ponder models`) or a GGUF path; None → $PONDER_MODEL or the
    default. n_gpu_layers: layers offloaded to a GPU; None → all of them when llama.cpp was built with
    a GPU backend and sees a device (`scripts/llama-wheel.sh` builds with CUDA where it can), else 0.
    n_ctx: KV cells shared by all parallel sequences of a batch. n_seq_max: most sequences decoded
    together. None → 16384 cells and 16 sequences on the CPU, 65536 and 64 when offloaded to a GPU
    (where wide batches are what makes large N cheap). prefix_reuse: keep and share prompt prefixes in
    the KV cache (off only to measure what it saves).
    """

    def __init__(self, model: str | os.PathLike | None = None, *, n_ctx: int | None = None,
                 n_seq_max: int | None = None, n_batch: int = 512, n_threads: int | None = None,
                 n_gpu_layers: int | None = None, prefix_reuse: bool = True, verbose: bool = False) -> None:
        for pname, val, lo in (("n_ctx", n_ctx, 64), ("n_seq_max", n_seq_max, 1), ("n_batch", n_batch, 1),
                               ("n_gpu_layers", n_gpu_layers, -1)):
            if val is not None and (isinstance(val, bool) or not isinstance(val, int) or val < lo):
                raise ConfigError(pname, val, f"must be an integer >= {lo}")
        self.path = resolve_model(model)
        self._ll, internals = _import_llama_cpp()
        ll = self._ll
        _quiet_unless_configured("llama-cpp-python", logging.DEBUG if verbose else None)
        if n_gpu_layers is None:
            n_gpu_layers = -1 if gpu_offload_available() else 0
        self.offloaded = n_gpu_layers != 0
        # room for n_seq_max samples of 1,024 tokens (prompt + answer): at 8,192 a vote@16 with max_tokens
        # 512 was planned as 15 samples and then 1 more on its own (a whole extra sequential decode)
        n_ctx = n_ctx or (65536 if self.offloaded else 16384)
        n_seq_max = n_seq_max or (64 if self.offloaded else 16)
        mparams = ll.llama_model_default_params()
        mparams.n_gpu_layers = n_gpu_layers
        try:
            self._model = internals.LlamaModel(path_model=str(self.path), params=mparams, verbose=verbose)
        except ValueError as e:  # llama.cpp refused the file (an architecture it does not know, a corrupt file)
            raise ModelNotFoundError("model", str(self.path), f"llama.cpp could not load it ({e})") from e
        cparams = ll.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = n_batch
        cparams.n_ubatch = n_batch
        cparams.n_seq_max = n_seq_max
        cparams.kv_unified = True
        threads = n_threads or max(1, os.cpu_count() or 1)
        cparams.n_threads = threads
        cparams.n_threads_batch = threads
        self._ctx = internals.LlamaContext(model=self._model, params=cparams, verbose=verbose)
        self._vocab = self._model.vocab
        self.n_ctx = ll.llama_n_ctx(self._ctx.ctx)
        self.n_seq_max = ll.llama_n_seq_max(self._ctx.ctx)
        self.n_batch = n_batch
        self.n_vocab = ll.llama_vocab_n_tokens(self._vocab)
        self.n_params = int(ll.llama_model_n_params(self._model.model))
        self.metadata = self._model.metadata()
        self._bos = self._model.token_bos()
        self._add_bos = bool(self._model.add_bos_token())
        self._formatter = self._make_formatter()
        self._batch = ll.llama_batch_init(max(n_batch, self.n_seq_max), 0, 1)
        self._pieces: dict[int, bytes] = {}
        self._cached: list[int] = []  # prompt tokens held in sequence 0
        self._lock = threading.Lock()
        self._closing = self._freed = False
        self._admissions: collections.deque[_Admission] = collections.deque()
        self._admit_lock = threading.Lock()
        self.prefix_reuse = prefix_reuse
        self._caps = Capabilities(logprobs=True, top_logprobs=20, prefix_reuse=prefix_reuse, native_n=True,
                                  max_context=self.n_ctx, chat=self._formatter is not None,
                                  continuation=True, confidence_stop=True, answer_stop=True)

    # -- identity ---------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return f"llamacpp:{self.path.name}"

    @property
    def capabilities(self) -> Capabilities:
        return self._caps

    def close(self, timeout_s: float = 30.0) -> None:
        """Free the model. A decode still running in a worker thread (a request nobody waits for any
        more) is stopped at its next token and waited for: freeing under it would crash the process."""
        self._closing = True
        if not self._lock.acquire(timeout=timeout_s):
            log.warning("llama.cpp: a decode did not stop within %.0f s; the model is not freed", timeout_s)
            return
        try:
            self._free()
        finally:
            self._lock.release()

    def _free(self) -> None:
        if self._freed:
            return
        self._freed = True
        if self._batch is not None:
            self._ll.llama_batch_free(self._batch)
            self._batch = None
        self._ctx.close()
        self._model.close()

    # -- prompts ----------------------------------------------------------------------------------
    def _make_formatter(self) -> Any:
        template = self.metadata.get("tokenizer.chat_template")
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
                              f"model {self.path.name} has no chat template; send a raw prompt")
        msgs = [{"role": m.role, "content": m.content} for m in req.messages]
        return self._formatter(messages=msgs).prompt + req.prefix

    def tokenize(self, text: str) -> list[int]:
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError as e:  # a lone surrogate, e.g. "\ud800" from JSON
            raise ConfigError("prompt", text[max(0, e.start - 10): e.end + 10],
                              "is not valid Unicode text (a lone surrogate)") from e
        toks = self._model.tokenize(data, add_bos=self._add_bos, special=True)
        if len(toks) > 1 and toks[0] == self._bos and toks[1] == self._bos:
            toks = toks[1:]  # the template wrote its own BOS
        return toks

    def _piece(self, tok: int) -> bytes:
        p = self._pieces.get(tok)
        if p is None:
            buf = ctypes.create_string_buffer(256)
            n = self._ll.llama_token_to_piece(self._vocab, tok, buf, 256, 0, False)
            p = self._pieces[tok] = bytes(buf[: max(n, 0)])
        return p

    # -- the protocol -----------------------------------------------------------------------------
    async def generate(self, requests: Sequence[GenRequest], *,
                       progress: ProgressFn | None = None) -> list[GenResponse]:
        # a cancelled caller (a dropped stream, a timed-out request) stops its sequences at the next
        # token instead of decoding on in the thread for nobody
        return await cancellable(requests, lambda reqs: asyncio.to_thread(self.generate_sync, reqs, progress))

    def generate_sync(self, requests: Sequence[GenRequest],
                      progress: ProgressFn | None = None) -> list[GenResponse]:
        failed: dict[int, GenResponse] = {}
        prompts: list[list[int]] = []
        for i, r in enumerate(requests):
            try:
                toks = self.tokenize(self.render(r))
                if len(toks) + r.params.max_tokens > self.n_ctx:
                    raise ConfigError("max_tokens", r.params.max_tokens,
                                      f"prompt ({len(toks)} tokens) + max_tokens exceeds the context "
                                      f"window n_ctx={self.n_ctx}")
            except ConfigError as e:  # this request's own problem: the others still run
                failed[i] = GenResponse.failed(e)
                toks = []
            prompts.append(toks)
        ok = [i for i in range(len(requests)) if i not in failed]
        done = iter(self._generate([requests[i] for i in ok], [prompts[i] for i in ok], progress) if ok else [])
        return [failed[i] if i in failed else next(done) for i in range(len(requests))]

    def _generate(self, requests: Sequence[GenRequest], prompts: list[list[int]],
                  progress: ProgressFn | None) -> list[GenResponse]:
        """Decode requests whose prompts are tokenized and fit the context."""
        deadlines = [r.deadline for r in requests]
        end = None if None in deadlines else max(deadlines)  # type: ignore[type-var]
        if not self._lock.acquire(blocking=False):
            got = self._join_running(list(requests), prompts, progress, end)
            if got is not None:
                return got
        try:  # the lock is ours
            if self._freed:
                raise FatalBackendError("llama.cpp: the model was closed")
            out = self._decode_live(requests, prompts, progress)
            while True:  # calls that queued to join but found no room: serve them before letting go
                with self._admit_lock:
                    entry = self._admissions.popleft() if self._admissions else None
                if entry is None:
                    return out
                self._serve(entry, lambda e=entry: self._decode_live(e.requests, e.prompts, e.progress))
        finally:
            self._lock.release()

    def _join_running(self, requests: list[GenRequest], prompts: list[list[int]], progress: ProgressFn | None,
                      end: float | None) -> list[GenResponse] | None:
        """Another call holds the decoder: queue to join its loop and wait for our own samples.
        Returns None when the decoder went away without taking us and we hold the lock instead."""
        entry = _Admission(requests, prompts, progress)
        with self._admit_lock:
            self._admissions.append(entry)
        while not entry.done.wait(0.02):
            with self._admit_lock:
                queued = entry in self._admissions
                gone = all(r.cancel is not None and r.cancel.is_set() for r in requests)
                if queued and (gone or (end is not None and time.monotonic() >= end)):
                    self._admissions.remove(entry)  # its deadline passed (or its caller left) before there was room
                    return [self._expired(r, len(p)) for r, p in zip(requests, prompts)]
                if queued and self._lock.acquire(blocking=False):
                    self._admissions.remove(entry)  # the decoder finished without taking us
                    return None
        if entry.error is not None:
            raise entry.error
        assert entry.result is not None
        return entry.result

    @staticmethod
    def _serve(entry: _Admission, run: Any) -> None:
        try:
            entry.result = run()
        except BaseException as e:  # the waiting caller raises it
            entry.error = e
        entry.done.set()

    def _decode_live(self, requests: Sequence[GenRequest], prompts: list[list[int]],
                     progress: ProgressFn | None) -> list[GenResponse]:
        now = time.monotonic()
        live = [i for i, r in enumerate(requests) if r.deadline is None or r.deadline > now]
        if len(live) < len(requests):  # expired while waiting: no prefill for nobody
            done = iter(self._decode_all([requests[i] for i in live], [prompts[i] for i in live], progress)
                        if live else [])
            return [next(done) if i in live else self._expired(requests[i], len(prompts[i]))
                    for i in range(len(requests))]
        return self._decode_all(requests, prompts, progress)

    def _expired(self, req: GenRequest, prompt_tokens: int) -> GenResponse:
        outs = tuple(GenOutput(text="", finish_reason="deadline", completion_tokens=0) for _ in range(req.n))
        return GenResponse(outputs=outs, usage=Usage(prompt_tokens=0, completion_tokens=0, calls=1, wall_s=0.0,
                                                     flops_estimate=0.0),
                           events=({"event": "deadline", "waited_for_backend": True, "prompt_tokens": prompt_tokens},))

    def _decode_all(self, requests: Sequence[GenRequest], prompts: list[list[int]],
                    progress: ProgressFn | None) -> list[GenResponse]:
        """Decode under the lock (held by the caller)."""
        samples: list[list[_Sample | None]] = [[None] * r.n for r in requests]
        evaluated = [0] * len(requests)
        walls = [0.0] * len(requests)
        for group in self._plan(requests, prompts):
            t0 = time.perf_counter()
            done, n_eval = self._run_group(group, requests, progress)
            dt = time.perf_counter() - t0
            for job, ev in zip(group, n_eval):
                evaluated[job.req] += ev
                walls[job.req] += dt
            for s in done:
                samples[group[s.job].req][s.index] = s
        out = []
        for i, r in enumerate(requests):
            outs = tuple(self._to_output(s, r) for s in samples[i])  # type: ignore[arg-type]
            gen = sum(o.completion_tokens or 0 for o in outs)
            usage = Usage(prompt_tokens=len(prompts[i]), completion_tokens=gen, calls=1,
                          wall_s=walls[i], flops_estimate=2.0 * self.n_params * (evaluated[i] + gen))
            out.append(GenResponse(outputs=outs, usage=usage,
                                   events=({"event": "prompt_eval", "tokens": len(prompts[i]),
                                            "evaluated": evaluated[i]},)))
        return out

    def _plan(self, requests: Sequence[GenRequest], prompts: list[list[int]]) -> list[list[_Job]]:
        """Pack requests (or slices of their samples) into groups that fit the sequences and cells."""
        groups: list[list[_Job]] = []
        cur: list[_Job] = []
        seqs = cells = 0
        for i, (r, toks) in enumerate(zip(requests, prompts)):
            per = r.params.max_tokens
            max_k = max(1, min(self.n_seq_max, (self.n_ctx - len(toks)) // per))
            start = 0
            while start < r.n:
                k = min(r.n - start, max_k)
                need = len(toks) + k * per
                if cur and (seqs + k > self.n_seq_max or cells + need > self.n_ctx):
                    groups.append(cur)
                    cur, seqs, cells = [], 0, 0
                cur.append(_Job(req=i, tokens=toks, samples=range(start, start + k)))
                seqs += k
                cells += need
                start += k
        if cur:
            groups.append(cur)
        return groups

    def _decode(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """One llama_decode over (token, pos, seq, wants_logits) entries."""
        b = self._batch
        for j, (tok, pos, seq, want) in enumerate(entries):
            b.token[j] = tok
            b.pos[j] = pos
            b.n_seq_id[j] = 1
            b.seq_id[j][0] = seq
            b.logits[j] = 1 if want else 0
        b.n_tokens = len(entries)
        rc = self._ll.llama_decode(self._ctx.ctx, b)
        if rc != 0:
            raise FatalBackendError(f"llama_decode failed with code {rc} (KV cache full or bad batch)")

    def _logits(self, n_rows: int) -> np.ndarray:
        ptr = self._ll.llama_get_logits(self._ctx.ctx)
        return np.ctypeslib.as_array(ptr, shape=(n_rows, self.n_vocab))

    def _prefill(self, seq: int, tokens: list[int], start: int) -> np.ndarray:
        """Evaluate tokens[start:] into `seq`; return the logits after the last one (a copy).

        The last token is always decoded on its own, so the first sampled token sees the same
        numerics whether the rest of the prompt came from the cache or not (llama.cpp's kernels
        differ slightly between batch shapes): the same seed gives the same samples."""
        body = len(tokens) - 1
        for a in range(start, body, self.n_batch):
            chunk = tokens[a: min(a + self.n_batch, body)]
            self._decode([(t, a + j, seq, False) for j, t in enumerate(chunk)])
        self._decode([(tokens[-1], body, seq, True)])
        return self._logits(1)[0].copy()

    def _run_group(self, group: list[_Job], requests: Sequence[GenRequest],
                   progress: ProgressFn | None) -> tuple[list[_Sample], list[int]]:
        ll, mem = self._ll, self._ctx.memory
        first = group[0].tokens
        common = min(_lcp(self._cached, first), len(first) - 1) if self.prefix_reuse else 0
        if common > 0:
            ll.llama_memory_seq_keep(mem, 0)
            ll.llama_memory_seq_rm(mem, 0, common, -1)
        else:
            ll.llama_memory_clear(mem, True)
        samples: list[_Sample] = []
        first_logits: list[np.ndarray] = []
        n_eval: list[int] = []
        seq = 0
        bases: list[tuple[int, list[int]]] = []  # (sequence, prompt) of the jobs already evaluated
        for j, job in enumerate(group):
            start = common if j == 0 else 0
            if j and self.prefix_reuse:
                # share the longest prompt prefix already in the batch (same question, other steps)
                src, shared = max(((b, _lcp(t, job.tokens)) for b, t in bases), key=lambda x: x[1])
                shared = min(shared, len(job.tokens) - 1)
                if shared > 0:
                    ll.llama_memory_seq_cp(mem, src, seq, 0, shared)
                    start = shared
            bases.append((seq, job.tokens))
            first_logits.append(self._prefill(seq, job.tokens, start))
            n_eval.append(len(job.tokens) - start)
            req = requests[job.req]
            for k, idx in enumerate(job.samples):
                if k:
                    ll.llama_memory_seq_cp(mem, seq, seq + k, -1, -1)
                seed = req.seed if req.seed is not None else int.from_bytes(os.urandom(4), "little")
                samples.append(_Sample(job=j, index=idx, seq=seq + k, pos=len(job.tokens),
                                       rng=np.random.default_rng([seed, idx])))
            seq += len(job.samples)
        self._cached = list(first)
        group, reqs = list(group), list(requests)  # calls that join the loop extend both
        live = list(samples)
        rows: np.ndarray | None = None
        step = 0
        joined: list[_Sample] = []
        freed: set[int] = set()
        try:
            while live:
                if step == 0:
                    rows = np.stack([first_logits[s.job] for s in live])
                assert rows is not None
                toks = self._sample_step(live, rows, group, reqs)
                still: list[_Sample] = []
                for r, s in enumerate(live):
                    self._advance(s, rows[r], reqs[group[s.job].req], toks[r])
                    if s.finish is None:
                        still.append(s)
                    elif s.owner is not None:
                        self._sample_done(s)
                own = sum(s.owner is None for s in live)
                if progress is not None and own:
                    progress(own)
                live = still
                step += 1
                new, new_rows = self._admit(live, samples + joined, group, reqs, freed) \
                    if self._admissions else ([], [])
                joined += new
                if live:
                    self._decode([(s.tokens[-1], s.pos - 1, s.seq, True) for s in live])
                    rows = self._logits(len(live))
                if new:
                    rows = np.concatenate([rows, np.stack(new_rows)]) if live else np.stack(new_rows)
                    live += new
        except BaseException as e:  # calls that joined get the error too; the owner's call raises it
            for s in joined:
                if s.owner is not None and not s.owner.done.is_set():
                    s.owner.error = e
                    s.owner.done.set()
            raise
        return samples, n_eval

    def _admit(self, live: list[_Sample], all_samples: list[_Sample], group: list[_Job], reqs: list[GenRequest],
               freed: set[int]) -> tuple[list[_Sample], list[np.ndarray]]:
        """Let queued calls join the running loop while free sequences and KV cells allow (first come,
        first served); returns their new samples and the logits for their first tokens."""
        ll, mem = self._ll, self._ctx.memory
        for s in all_samples:  # finished sequences give their cells back (seq 0 keeps the cached prompt)
            if s.finish is not None and s.seq and s.seq not in freed:
                ll.llama_memory_seq_rm(mem, s.seq, -1, -1)
                freed.add(s.seq)
        busy = {s.seq for s in live} | {0}
        free = [q for q in range(self.n_seq_max) if q not in busy]
        jobs = {s.job for s in live}
        cells = sum(len(group[j].tokens) for j in jobs) + sum(reqs[group[s.job].req].params.max_tokens for s in live)
        cells += next((s.pos for s in all_samples if s.seq == 0), 0)
        new: list[_Sample] = []
        first_rows: list[np.ndarray] = []
        while True:
            with self._admit_lock:
                entry = self._admissions[0] if self._admissions else None
                if entry is None:
                    break
                n = sum(r.n for r in entry.requests)
                need = sum(len(p) + r.n * r.params.max_tokens for r, p in zip(entry.requests, entry.prompts))
                if n > len(free) or cells + need > self.n_ctx or self._closing:
                    break  # no room yet: it waits for sequences to finish (or for the next call)
                self._admissions.popleft()
            cells += need
            entry.samples = [[] for _ in entry.requests]
            entry.evaluated = [len(p) for p in entry.prompts]
            for i, (r, toks) in enumerate(zip(entry.requests, entry.prompts)):
                seqs, free = free[: r.n], free[r.n:]
                ll.llama_memory_seq_rm(mem, seqs[0], -1, -1)
                logits = self._prefill(seqs[0], toks, 0)
                group.append(_Job(req=len(reqs), tokens=toks, samples=range(r.n)))
                reqs.append(r)
                seed = r.seed if r.seed is not None else int.from_bytes(os.urandom(4), "little")
                for k, q in enumerate(seqs):
                    if k:
                        ll.llama_memory_seq_rm(mem, q, -1, -1)
                        ll.llama_memory_seq_cp(mem, seqs[0], q, -1, -1)
                    smp = _Sample(job=len(group) - 1, index=k, seq=q, pos=len(toks),
                                  rng=np.random.default_rng([seed, k]), owner=entry)
                    entry.samples[i].append(smp)
                    new.append(smp)
                    first_rows.append(logits)
                    freed.discard(q)
            entry.left = n
        return new, first_rows

    def _sample_done(self, s: _Sample) -> None:
        """A sample of a call that joined the loop finished; answer the call once all of its have."""
        entry = s.owner
        assert entry is not None
        entry.left -= 1
        if entry.progress is not None:
            entry.progress(1)
        if entry.left > 0:
            return
        out = []
        wall = time.perf_counter() - entry.t0
        for r, smps, toks, ev in zip(entry.requests, entry.samples, entry.prompts, entry.evaluated):
            outs = tuple(self._to_output(x, r) for x in smps)
            gen = sum(o.completion_tokens or 0 for o in outs)
            usage = Usage(prompt_tokens=len(toks), completion_tokens=gen, calls=1, wall_s=wall,
                          flops_estimate=2.0 * self.n_params * (ev + gen))
            out.append(GenResponse(outputs=outs, usage=usage, events=(
                {"event": "prompt_eval", "tokens": len(toks), "evaluated": ev, "joined_running_batch": True},)))
        entry.result = out
        entry.done.set()

    def _sample_step(self, live: list[_Sample], rows: np.ndarray, group: list[_Job],
                     requests: Sequence[GenRequest]) -> list[int]:
        """One token per live sequence: the rows of each request are sampled together."""
        by_req: dict[int, list[int]] = {}
        for r, s in enumerate(live):
            by_req.setdefault(group[s.job].req, []).append(r)
        toks = [0] * len(live)
        for req, idx in by_req.items():
            drawn = sample_rows(rows[idx], requests[req].params, [live[r].rng for r in idx])
            for r, t in zip(idx, drawn, strict=True):
                toks[r] = t
        return toks

    def _advance(self, s: _Sample, logits: np.ndarray, req: GenRequest, tok: int) -> None:
        p, cs = req.params, req.confidence_stop
        if p.logprobs is not None or cs is not None:
            k = max(p.logprobs or 0, cs.top_k if cs else 0)
            lp, alts = token_logprobs(logits, tok, k)
            if p.logprobs is not None:
                s.logprobs.append(TokenLogprob(
                    self._piece(tok).decode("utf-8", "replace"), lp,
                    tuple((self._piece(i).decode("utf-8", "replace"), v) for i, v in alts[: p.logprobs])))
            if cs is not None:
                top = [v for _, v in alts[: cs.top_k]]
                s.conf.append(-sum(top) / len(top))
        s.tokens.append(tok)
        s.pos += 1
        if self._ll.llama_vocab_is_eog(self._vocab, tok):
            s.finish = "stop"
            return
        s.pieces.append(self._piece(tok))
        if p.stop:
            text = b"".join(s.pieces).decode("utf-8", "ignore")
            hits = sorted((text.find(x), x) for x in p.stop if x in text)
            if hits:
                cut, s.stop_string = hits[0]
                s.text, s.finish = text[:cut], "stop"
                return
        if req.answer_stop and b"}" in s.pieces[-1] and \
                answer_written(req.prefix + b"".join(s.pieces).decode("utf-8", "ignore"), len(req.prefix)):
            s.finish = "stop"
        elif cs is not None and cs.reached(s.conf):
            s.finish = "cutoff"
        elif len(s.tokens) >= p.max_tokens:
            s.finish = "length"
        elif (req.deadline is not None and time.monotonic() >= req.deadline) or self._closing or \
                (req.cancel is not None and req.cancel.is_set()):
            s.finish = "deadline"

    def _to_output(self, s: _Sample, req: GenRequest) -> GenOutput:
        text = s.text if s.text is not None else b"".join(s.pieces).decode("utf-8", "replace")
        return GenOutput(text=text, finish_reason=s.finish or "length",  # type: ignore[arg-type]
                         completion_tokens=len(s.tokens), token_ids=tuple(s.tokens), stop_string=s.stop_string,
                         logprobs=tuple(s.logprobs) if req.params.logprobs is not None else None)


def _lcp(a: list[int], b: list[int]) -> int:
    """Length of the common prefix of two token lists."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
