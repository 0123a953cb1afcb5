"""transformers backend: CPU or GPU generation with any causal LM (a Hugging Face id or a local dir).

`num_return_sequences=n` draws the n samples in one `generate` call; per-token logprobs (of the
model itself, temperature 1, with top-k alternatives) come from the raw logits; stop strings are
checked on the decoded text of each sequence as it grows (works with any tokenizer). Sampling is
seeded with `torch.manual_seed(seed)` under a lock, so the same request with the same seed gives the
same samples (on the same device). The prompt is expanded n times, so its evaluation is not shared:
`flops_estimate` counts it n times. torch and transformers are imported only when this backend is
built.

merge_requests: requests of one call (several problems of an eval, the server's batcher) that share
their sampling settings run as one left-padded `generate` over all their samples — a GPU is mostly
idle with one problem's samples. transformers draws one random stream for the whole batch, so a
merged request's samples then depend on what it was merged with (seeded by the first request's
seed); that is why merging is on by default only on CUDA.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

from ponder.backends.base import Capabilities, ProgressFn, cancellable
from ponder.errors import ConfigError, ModelNotFoundError
from ponder.types import GenOutput, GenRequest, GenResponse, TokenLogprob
from ponder.usage import Usage


def _import() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("the transformers backend needs torch and transformers: pip install ponder[hf]") from e
    return torch, transformers


class TransformersGenerator:
    def __init__(self, model: str | os.PathLike, *, device: str | None = None, dtype: str = "auto",
                 trust_remote_code: bool = False, merge_requests: bool | None = None,
                 cache_implementation: str | None = None) -> None:
        torch, tf = _import()
        src = str(model)
        if os.sep in src and not os.path.exists(src):
            raise ModelNotFoundError("model", src, "no such directory")
        self._torch, self._tf = torch, tf
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = tf.AutoTokenizer.from_pretrained(src, trust_remote_code=trust_remote_code)
        self.tokenizer.padding_side = "left"  # merged prompts end where generation starts
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.merge_requests = self.device.startswith("cuda") if merge_requests is None else bool(merge_requests)
        self.cache_implementation = cache_implementation
        kw: dict[str, Any] = {"trust_remote_code": trust_remote_code}
        if dtype != "auto":
            if not hasattr(torch, dtype):
                raise ConfigError("dtype", dtype, "not a torch dtype (float32, bfloat16, float16)")
            kw["dtype"] = getattr(torch, dtype)
        self.model = tf.AutoModelForCausalLM.from_pretrained(src, **kw).to(self.device).eval()
        self.src = src
        self.n_params = sum(p.numel() for p in self.model.parameters())
        self._lock = threading.Lock()
        # One thread runs every generate call: torch's OpenMP pool belongs to the calling thread, and
        # the idle pools of other threads compete for the cores (vote@8 ran ~15% slower on
        # asyncio.to_thread's rotating workers than on one thread).
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ponder-transformers")
        self._chat = bool(getattr(self.tokenizer, "chat_template", None))
        self._caps = Capabilities(logprobs=True, top_logprobs=20, prefix_reuse=False, native_n=True,
                                  max_context=getattr(self.model.config, "max_position_embeddings", None),
                                  chat=self._chat, continuation=True, confidence_stop=False,
                                  parameters=float(self.n_params))

    @property
    def name(self) -> str:
        return f"transformers:{self.src}"

    @property
    def capabilities(self) -> Capabilities:
        return self._caps

    def render(self, req: GenRequest) -> str:
        if req.messages is None:
            return (req.prompt or "") + req.prefix
        if not self._chat:
            raise ConfigError("messages", [m.role for m in req.messages], f"{self.src} has no chat template")
        msgs = [{"role": m.role, "content": m.content} for m in req.messages]
        return self.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False) + req.prefix

    async def generate(self, requests: Sequence[GenRequest], *,
                       progress: ProgressFn | None = None) -> list[GenResponse]:
        # the contract of backends/base.py: a cancelled caller (a dropped client, a timed-out request)
        # stops its rows at the next decoding step, and one request's failure is its own
        return await cancellable(requests, lambda reqs: asyncio.get_running_loop().run_in_executor(
            self._worker, self._run, reqs, progress))

    def _run(self, requests: Sequence[GenRequest], progress: ProgressFn | None) -> list[GenResponse]:
        out: list[GenResponse | None] = [None] * len(requests)
        ok: list[int] = []
        for i, r in enumerate(requests):  # a request that cannot run fails alone, before any decoding
            try:
                self._check(r)
                ok.append(i)
            except ConfigError as e:
                out[i] = GenResponse.failed(e)
        for idx in self._merge_plan([requests[i] for i in ok]):
            group = [ok[j] for j in idx]
            try:
                resps = self._batch([requests[i] for i in group], progress)
            except Exception as e:  # noqa: BLE001 - the group's own failure (out of memory, a bad input)
                resps = [GenResponse.failed(e) for _ in group]
            for i, resp in zip(group, resps, strict=True):
                out[i] = resp
        return out  # type: ignore[return-value]

    def _check(self, req: GenRequest) -> None:
        """A ConfigError for a request this model cannot run: a prompt that, with max_tokens, does not fit."""
        limit = self._caps.max_context
        if limit is None:
            return
        n_prompt = len(self.tokenizer(self.render(req), add_special_tokens=req.messages is None)["input_ids"])
        if n_prompt + req.params.max_tokens > limit:
            raise ConfigError("max_tokens", req.params.max_tokens, f"prompt ({n_prompt} tokens) + max_tokens exceeds "
                                                                   f"the model's context of {limit} tokens")

    def _merge_plan(self, requests: Sequence[GenRequest]) -> list[list[int]]:
        """Indices of the requests that run together: one per call, or those sharing settings."""
        if not self.merge_requests:
            return [[i] for i in range(len(requests))]
        groups: dict[Any, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.params, r.messages is None), []).append(i)
        return list(groups.values())

    def _batch(self, reqs: list[GenRequest], progress: ProgressFn | None) -> list[GenResponse]:
        """One `generate` over the samples of requests that share sampling settings."""
        torch = self._torch
        p = reqs[0].params
        texts = [self.render(r) for r in reqs]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True,
                             add_special_tokens=reqs[0].messages is None).to(self.device)
        plen = enc["input_ids"].shape[1]
        lens = enc["attention_mask"].sum(dim=1).tolist()
        per = [1 if p.greedy else r.n for r in reqs]  # rows each request decodes (greedy: once, copied)
        if sum(per) > len(reqs):
            rep = torch.tensor(per, device=enc["input_ids"].device)
            enc = {k: v.repeat_interleave(rep, dim=0) for k, v in enc.items()}
        gen_kw: dict[str, Any] = {"max_new_tokens": p.max_tokens, "num_return_sequences": 1,
                                  # raw logits cost n × steps × vocab floats: kept only when logprobs are asked
                                  "return_dict_in_generate": True, "output_logits": p.logprobs is not None,
                                  "pad_token_id": self.tokenizer.pad_token_id}
        if self.cache_implementation:
            gen_kw["cache_implementation"] = self.cache_implementation
        if p.greedy:
            gen_kw.update(do_sample=False)
        else:
            gen_kw.update(do_sample=True, temperature=p.temperature, top_p=p.top_p, top_k=p.top_k or None,
                          min_p=p.min_p or None)
        rows = [r for r, k in zip(reqs, per) for _ in range(k)]
        halt = _StopOnDeadline(rows, [*self._eos_ids(), self.tokenizer.pad_token_id])
        criteria = [halt] + ([_StopOnText(self.tokenizer, plen, p.stop)] if p.stop else [])
        gen_kw["stopping_criteria"] = self._tf.StoppingCriteriaList(criteria)
        t0 = time.perf_counter()
        with self._lock, torch.no_grad():
            if reqs[0].seed is not None:
                torch.manual_seed(reqs[0].seed)
            out = self.model.generate(**enc, **gen_kw)
        wall = time.perf_counter() - t0
        seqs = out.sequences[:, plen:]
        logits = torch.stack(out.logits, dim=1).float() if out.logits else None  # [rows, steps, vocab]
        resps, row = [], 0
        for r, k, n_prompt in zip(reqs, per, lens, strict=True):
            resps.append(self._response(r, seqs[row: row + k], None if logits is None else logits[row: row + k],
                                        int(n_prompt), wall, progress, halted=halt.halted[row: row + k]))
            row += k
        return resps

    def _response(self, req: GenRequest, seqs: Any, logits: Any, plen: int, wall: float,
                  progress: ProgressFn | None, halted: Sequence[bool] = ()) -> GenResponse:
        torch, p = self._torch, req.params
        eos = set(self._eos_ids()) | {self.tokenizer.pad_token_id}
        outputs = []
        for i0 in range(req.n):
            i = min(i0, seqs.shape[0] - 1)
            ids = seqs[i].tolist()
            n_tok = next((j + 1 for j, t in enumerate(ids) if t in eos), len(ids))
            body = [t for t in ids[:n_tok] if t not in eos]
            raw = self.tokenizer.decode(body, skip_special_tokens=True)
            finish, stop_string, txt = ("stop" if n_tok < len(ids) or (ids and ids[-1] in eos) else "length"), None, raw
            if i < len(halted) and halted[i]:
                finish = "deadline"  # stopped at its deadline or by its caller
            hits = sorted((raw.find(s), s) for s in p.stop if s in raw)
            if hits:
                txt, stop_string, finish = raw[: hits[0][0]], hits[0][1], "stop"
            lps = None
            if p.logprobs is not None and logits is not None:
                lsm = torch.log_softmax(logits[i, :n_tok], dim=-1)
                rows: list[TokenLogprob] = []
                for j, tok in enumerate(ids[:n_tok]):
                    top = torch.topk(lsm[j], p.logprobs).indices.tolist() if p.logprobs else []
                    rows.append(TokenLogprob(self.tokenizer.decode([tok]), float(lsm[j, tok]),
                                            tuple((self.tokenizer.decode([t]), float(lsm[j, t])) for t in top)))
                lps = tuple(rows)
            outputs.append(GenOutput(text=txt, finish_reason=finish, completion_tokens=n_tok,  # type: ignore[arg-type]
                                     token_ids=tuple(ids[:n_tok]), logprobs=lps, stop_string=stop_string))
        gen = sum(o.completion_tokens or 0 for o in outputs)
        if progress is not None:
            progress(gen)
        usage = Usage(prompt_tokens=plen, completion_tokens=gen, calls=1, wall_s=wall,
                      flops_estimate=2.0 * self.n_params * (plen * req.n + gen))
        return GenResponse(outputs=tuple(outputs), usage=usage)

    def _eos_ids(self) -> list[int]:
        ids = self.model.generation_config.eos_token_id
        if ids is None:
            ids = self.tokenizer.eos_token_id
        return [ids] if isinstance(ids, int) else list(ids or [])


class _StopOnDeadline:
    """Stopping criterion: a row is done once its request's deadline has passed or its caller has
    cancelled it (`GenRequest.deadline`, `GenRequest.cancel`), checked between decoding steps."""

    def __init__(self, rows: Sequence[GenRequest], end_ids: Sequence[int]) -> None:
        self.rows = list(rows)
        self.end_ids = set(end_ids)
        self.halted = [False] * len(self.rows)
        """Rows stopped here (not by their end-of-sequence token or max_tokens)."""

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        now = time.monotonic()
        last = input_ids[:, -1].tolist()
        for i, r in enumerate(self.rows):
            over = (r.deadline is not None and now >= r.deadline) or (r.cancel is not None and r.cancel.is_set())
            if over and not self.halted[i] and last[i] not in self.end_ids:  # a finished row stays finished
                self.halted[i] = True
        return torch.tensor([h or t in self.end_ids for h, t in zip(self.halted, last)], device=input_ids.device)


class _StopOnText:
    """Stopping criterion: a sequence is done once its generated text contains a stop string."""

    def __init__(self, tokenizer: Any, prompt_len: int, stops: Sequence[str]) -> None:
        self.tokenizer, self.prompt_len, self.stops = tokenizer, prompt_len, tuple(stops)

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_len:], skip_special_tokens=True)
        return torch.tensor([any(s in t for s in self.stops) for t in texts], device=input_ids.device)

