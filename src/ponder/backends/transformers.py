"""transformers backend: CPU or GPU generation with any causal LM (a Hugging Face id or a local dir).

`num_return_sequences=n` draws the n samples in one `generate` call; per-token logprobs (of the
model itself, temperature 1, with top-k alternatives) come from the raw logits; stop strings are
checked on the decoded text of each sequence as it grows (works with any tokenizer). Sampling is
seeded with `torch.manual_seed(seed)` under a lock, so the same request with the same seed gives the
same samples (on the same device). The prompt is expanded n times, so its evaluation is not shared:
`flops_estimate` counts it n times. torch and transformers are imported only when this backend is
built.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

from ponder.backends.base import Capabilities, ProgressFn
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
                 trust_remote_code: bool = False) -> None:
        torch, tf = _import()
        src = str(model)
        if os.sep in src and not os.path.exists(src):
            raise ModelNotFoundError("model", src, "no such directory")
        self._torch, self._tf = torch, tf
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = tf.AutoTokenizer.from_pretrained(src, trust_remote_code=trust_remote_code)
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
                                  chat=self._chat, continuation=True, confidence_stop=False)

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
        return await asyncio.get_running_loop().run_in_executor(
            self._worker, lambda: [self._one(r, progress) for r in requests])

    def _one(self, req: GenRequest, progress: ProgressFn | None) -> GenResponse:
        torch = self._torch
        p = req.params
        text = self.render(req)
        enc = self.tokenizer(text, return_tensors="pt", add_special_tokens=req.messages is None).to(self.device)
        plen = enc["input_ids"].shape[1]
        gen_kw: dict[str, Any] = {"max_new_tokens": p.max_tokens, "num_return_sequences": req.n,
                                  # raw logits cost n × steps × vocab floats: kept only when logprobs are asked
                                  "return_dict_in_generate": True, "output_logits": p.logprobs is not None,
                                  "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id}
        if p.greedy:  # n identical samples: decode once, copy
            gen_kw.update(do_sample=False, num_return_sequences=1)
        else:
            gen_kw.update(do_sample=True, temperature=p.temperature, top_p=p.top_p, top_k=p.top_k or None,
                          min_p=p.min_p or None)
        if p.stop:
            gen_kw["stopping_criteria"] = self._tf.StoppingCriteriaList([_StopOnText(self.tokenizer, plen, p.stop)])
        t0 = time.perf_counter()
        with self._lock, torch.no_grad():
            if req.seed is not None:
                torch.manual_seed(req.seed)
            out = self.model.generate(**enc, **gen_kw)
        wall = time.perf_counter() - t0
        seqs = out.sequences[:, plen:]
        logits = torch.stack(out.logits, dim=1).float() if out.logits else None  # [n, steps, vocab]
        eos = set(self._eos_ids()) | {gen_kw["pad_token_id"]}
        outputs = []
        for i0 in range(req.n):
            i = min(i0, seqs.shape[0] - 1)
            ids = seqs[i].tolist()
            n_tok = next((j + 1 for j, t in enumerate(ids) if t in eos), len(ids))
            body = [t for t in ids[:n_tok] if t not in eos]
            raw = self.tokenizer.decode(body, skip_special_tokens=True)
            finish, stop_string, txt = ("stop" if n_tok < len(ids) or (ids and ids[-1] in eos) else "length"), None, raw
            hits = sorted((raw.find(s), s) for s in p.stop if s in raw)
            if hits:
                txt, stop_string, finish = raw[: hits[0][0]], hits[0][1], "stop"
            lps = None
            if p.logprobs is not None and logits is not None:
                lsm = torch.log_softmax(logits[i, :n_tok], dim=-1)
                lps = []
                for j, tok in enumerate(ids[:n_tok]):
                    top = torch.topk(lsm[j], p.logprobs).indices.tolist() if p.logprobs else []
                    lps.append(TokenLogprob(self.tokenizer.decode([tok]), float(lsm[j, tok]),
                                            tuple((self.tokenizer.decode([t]), float(lsm[j, t])) for t in top)))
                lps = tuple(lps)
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


class _StopOnText:
    """Stopping criterion: a sequence is done once its generated text contains a stop string."""

    def __init__(self, tokenizer: Any, prompt_len: int, stops: Sequence[str]) -> None:
        self.tokenizer, self.prompt_len, self.stops = tokenizer, prompt_len, tuple(stops)

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_len:], skip_special_tokens=True)
        return torch.tensor([any(s in t for s in self.stops) for t in texts], device=input_ids.device)

