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
import functools
import logging
import os
import time
from collections.abc import Sequence

try:  # llama.cpp's shared libraries load before numpy's: the other order segfaults at model load with a
    import llama_cpp  # noqa: F401  CUDA build (seen with numpy 2.5 / CUDA 13; see docs/design/gpu.md)
except ImportError:  # pragma: no cover - reported when the generator is built
    pass
import numpy as np

from ponder.backends.base import Capabilities, ProgressFn, cancellable
from ponder.backends.llama_runtime import (
    LlamaMemory,
    LlamaText,
    gpu_offload_available,
    import_llama_cpp,
    quiet_unless_configured,
)
from ponder.backends.llama_scheduler import Admission, Job, Scheduler, plan, seed_rng
from ponder.backends.llama_sequence import Sequence as Sample
from ponder.backends.sampling import sample_rows
from ponder.errors import ConfigError, FatalBackendError, ModelNotFoundError
from ponder.models import resolve_model
from ponder.types import GenOutput, GenRequest, GenResponse
from ponder.usage import Usage

log = logging.getLogger(__name__)


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
        self._ll, internals = import_llama_cpp()
        ll = self._ll
        quiet_unless_configured("llama-cpp-python", logging.DEBUG if verbose else None)
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
        self._text = LlamaText(ll, self._model, self._vocab, self.metadata, self.path.name)
        self._batch = ll.llama_batch_init(max(n_batch, self.n_seq_max), 0, 1)
        self._cached: list[int] = []  # prompt tokens held in sequence 0
        self._freed = False
        self._sched = Scheduler(LlamaMemory(ll, self._ctx), self._prefill, n_seq_max=self.n_seq_max,
                                n_ctx=self.n_ctx)
        self.prefix_reuse = prefix_reuse
        self._caps = Capabilities(logprobs=True, top_logprobs=20, prefix_reuse=prefix_reuse, native_n=True,
                                  max_context=self.n_ctx, chat=self._text.chat,
                                  continuation=True, confidence_stop=True, answer_stop=True,
                                  parameters=float(self.n_params))

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
        self._sched.closing = True
        if not self._sched.lock.acquire(timeout=timeout_s):
            log.warning("llama.cpp: a decode did not stop within %.0f s; the model is not freed", timeout_s)
            return
        try:
            self._free()
        finally:
            self._sched.lock.release()

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
    def render(self, req: GenRequest) -> str:
        """The exact text the model sees for a request (chat template applied)."""
        return self._text.render(req)

    def tokenize(self, text: str) -> list[int]:
        return self._text.tokenize(text)

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
        sched = self._sched
        if not sched.lock.acquire(blocking=False):
            got = sched.wait_to_join(list(requests), prompts, progress, self._expired)
            if got is not None:
                return got
        try:  # the lock is ours
            if self._freed:
                raise FatalBackendError("llama.cpp: the model was closed")
            out = self._decode_live(requests, prompts, progress)
            while (entry := sched.next_queued()) is not None:  # queued but found no room: serve them too
                sched.serve(entry, functools.partial(self._decode_live, entry.requests, entry.prompts,
                                                     entry.progress))
            return out
        finally:
            sched.lock.release()

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
        samples: list[list[Sample | None]] = [[None] * r.n for r in requests]
        evaluated = [0] * len(requests)
        walls = [0.0] * len(requests)
        for group in plan(requests, prompts, self.n_seq_max, self.n_ctx):
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
            outs = tuple(s.output(r) for s in samples[i])  # type: ignore[union-attr]
            gen = sum(o.completion_tokens or 0 for o in outs)
            usage = Usage(prompt_tokens=len(prompts[i]), completion_tokens=gen, calls=1,
                          wall_s=walls[i], flops_estimate=2.0 * self.n_params * (evaluated[i] + gen))
            out.append(GenResponse(outputs=outs, usage=usage,
                                   events=({"event": "prompt_eval", "tokens": len(prompts[i]),
                                            "evaluated": evaluated[i]},)))
        return out

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

    def _run_group(self, group: list[Job], requests: Sequence[GenRequest],
                   progress: ProgressFn | None) -> tuple[list[Sample], list[int]]:
        ll, mem = self._ll, self._ctx.memory
        first = group[0].tokens
        common = min(_lcp(self._cached, first), len(first) - 1) if self.prefix_reuse else 0
        if common > 0:
            ll.llama_memory_seq_keep(mem, 0)
            ll.llama_memory_seq_rm(mem, 0, common, -1)
        else:
            ll.llama_memory_clear(mem, True)
        samples: list[Sample] = []
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
                samples.append(Sample(job=j, index=idx, seq=seq + k, pos=len(job.tokens), rng=seed_rng(req, idx)))
            seq += len(job.samples)
        self._cached = list(first)
        group, reqs = list(group), list(requests)  # calls that join the loop extend both
        live = list(samples)
        rows: np.ndarray | None = None
        step = 0
        joined: list[Sample] = []
        try:
            while live:
                if step == 0:
                    rows = np.stack([first_logits[s.job] for s in live])
                assert rows is not None
                toks = self._sample_step(live, rows, group, reqs)
                still: list[Sample] = []
                for r, s in enumerate(live):
                    self._advance(s, rows[r], reqs[group[s.job].req], toks[r])
                    if s.finish is None:
                        still.append(s)
                    elif s.owner is not None:
                        self._sched.sample_done(s, self._respond)
                own = sum(s.owner is None for s in live)
                if progress is not None and own:
                    progress(own)
                live = still
                step += 1
                new, new_rows = self._sched.admit(live, samples + joined, group, reqs) \
                    if self._sched.queue else ([], [])
                joined += new
                if live:
                    self._decode([(s.tokens[-1], s.pos - 1, s.seq, True) for s in live])
                    rows = self._logits(len(live))
                if new:
                    rows = np.concatenate([rows, np.stack(new_rows)]) if live else np.stack(new_rows)
                    live += new
        except BaseException as e:  # calls that joined get the error too; the owner's call raises it
            self._sched.fail_joined(joined, e)
            raise
        return samples, n_eval

    def _respond(self, entry: Admission) -> list[GenResponse]:
        """The responses of a call that joined a running decode, once its samples are done."""
        out = []
        wall = time.perf_counter() - entry.t0
        for r, smps, toks, ev in zip(entry.requests, entry.samples, entry.prompts, entry.evaluated):
            outs = tuple(x.output(r) for x in smps)
            gen = sum(o.completion_tokens or 0 for o in outs)
            usage = Usage(prompt_tokens=len(toks), completion_tokens=gen, calls=1, wall_s=wall,
                          flops_estimate=2.0 * self.n_params * (ev + gen))
            out.append(GenResponse(outputs=outs, usage=usage, events=(
                {"event": "prompt_eval", "tokens": len(toks), "evaluated": ev, "joined_running_batch": True},)))
        return out

    def _sample_step(self, live: list[Sample], rows: np.ndarray, group: list[Job],
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

    def _advance(self, s: Sample, logits: np.ndarray, req: GenRequest, tok: int) -> None:
        before = len(s.pieces)
        s.step(logits, req, tok, piece=self._text.piece, closing=self._sched.closing,
               end_of_generation=bool(self._ll.llama_vocab_is_eog(self._vocab, tok)))
        if req.on_text is not None:
            s.report(req, before)


def _lcp(a: list[int], b: list[int]) -> int:
    """Length of the common prefix of two token lists."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
