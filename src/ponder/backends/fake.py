"""A scripted generator for fast, exact tests of strategies, verifiers, the engine and front ends.

It is library code (like inspect_ai's mockllm) so users can test their own strategies too. Tokens are
whitespace-separated words (a text cut at max_tokens is re-joined with single spaces). Sampling is
seeded: sample i of a request with seed s is drawn with `random.Random(f"{s}:{i}")`, so the same seed
always gives the same samples and greedy (temperature 0) always gives the first scripted response.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ponder.answers import answer_written
from ponder.backends.base import Capabilities, ProgressFn, cancellable, stopped, stopped_response
from ponder.errors import ConfigError
from ponder.types import FinishReason, GenOutput, GenRequest, GenResponse, TokenLogprob
from ponder.usage import Usage


@dataclass(frozen=True, slots=True)
class Scripted:
    """A scripted response with the per-token log-probability the fake reports for it."""

    text: str
    logprob: float = -0.5


Script = Sequence[str | Scripted] | Callable[[GenRequest, int, random.Random], str | Scripted]


async def _sleep_unless_all_stopped(seconds: float, requests: Sequence[GenRequest]) -> None:
    """Wait as a slow backend decodes, but not past the moment every request is stopped."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0 and not all(stopped(r) for r in requests):
        await asyncio.sleep(min(left, 0.01))


def _render(req: GenRequest) -> str:
    if req.prompt is not None:
        return req.prompt + req.prefix
    return "\n".join(f"{m.role}: {m.content}" for m in req.messages or ()) + req.prefix


class ScriptedGenerator:
    """Answers every request from `script`: a list of responses to sample from (uniformly, seeded),
    or a function `(request, sample_index, rng) -> text`. `errors` are raised, one per call, before
    any output is produced (to test retries and failure recording). `delay_s` makes every call
    take that long (to test interruption); `word_delay_s` paces the text reported to a request's
    `on_text`, a word per step. `parameters`: a model size, so usage carries a FLOP estimate as
    llama.cpp counts it (2 × parameters × prompt and generated tokens; none without it). Every
    request is kept in `self.requests`. It keeps the backend contract of `ponder.backends.base`: a
    request whose prompt (in words) and max_tokens exceed `max_context` fails on its own, and a request
    past its deadline or cancelled by its caller (during `delay_s`) ends with finish "deadline"."""

    def __init__(self, script: Script, *, logprobs: bool = True, top_logprobs: int = 20,
                 errors: Sequence[BaseException] = (), name: str = "scripted", delay_s: float = 0.0,
                 word_delay_s: float = 0.0, parameters: float | None = None, max_context: int | None = None) -> None:
        self._script = script
        self._parameters = parameters
        self._errors = list(errors)
        self._name = name
        self._delay = delay_s
        self._word_delay = word_delay_s
        self._caps = Capabilities(logprobs=logprobs, top_logprobs=top_logprobs if logprobs else 0,
                                  prefix_reuse=True, native_n=True, chat=True,
                                  continuation=True, confidence_stop=True, answer_stop=True,
                                  parameters=parameters, max_context=max_context)
        self.requests: list[GenRequest] = []
        self.calls = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def capabilities(self) -> Capabilities:
        return self._caps

    def _pick(self, req: GenRequest, i: int) -> Scripted:
        rng = random.Random(f"{req.seed}:{i}")
        if callable(self._script):
            item = self._script(req, i, rng)
        else:
            item = self._script[0] if req.params.greedy else rng.choice(list(self._script))
        return item if isinstance(item, Scripted) else Scripted(item)

    def _sample(self, req: GenRequest, i: int) -> GenOutput:
        item = self._pick(req, i)
        finish: FinishReason = "stop"
        text, stop_string = item.text, None
        hits = sorted((text.index(s), s) for s in req.params.stop if s in text)
        if hits:
            text, stop_string = text[: hits[0][0]], hits[0][1]
        words = text.split()
        if req.answer_stop:  # one word = one token: end at the first word that closes the answer
            pre = req.prefix + " " if req.prefix else ""
            end = next((j + 1 for j, w in enumerate(words)
                        if "}" in w and answer_written(pre + " ".join(words[: j + 1]), len(pre))), None)
            if end is not None and end < len(words):
                words, text = words[:end], " ".join(words[:end])
        if len(words) > req.params.max_tokens:
            words, finish = words[: req.params.max_tokens], "length"
            text = " ".join(words)
        cs = req.confidence_stop
        if cs is not None and len(words) >= cs.window and self._confidence(item, cs.top_k) < cs.threshold:
            words, finish, stop_string = words[: cs.window], "cutoff", None  # cut as soon as a window is seen
            text = " ".join(words)
        lps = None
        if req.params.logprobs is not None and self._caps.logprobs:
            # the chosen word has probability p; the rest of the mass is spread evenly over k-1
            # alternatives, so a confident (high-p) script also has a peaked distribution
            k = req.params.logprobs
            alt = math.log(max(1.0 - math.exp(item.logprob), 1e-9) / max(k - 1, 1))
            top = ((None, item.logprob),) + tuple((f"<alt{j}>", alt) for j in range(k - 1)) if k else ()
            lps = tuple(TokenLogprob(w, item.logprob, tuple((t or w, v) for t, v in top)) for w in words)
        return GenOutput(text=text, finish_reason=finish, completion_tokens=len(words),
                         token_ids=None, logprobs=lps, stop_string=stop_string)

    @staticmethod
    def _confidence(item: Scripted, k: int) -> float:
        """DeepConf token confidence of every token of `item` (they all share its logprob)."""
        alt = math.log(max(1.0 - math.exp(item.logprob), 1e-9) / max(k - 1, 1))
        return -(item.logprob + (k - 1) * alt) / k

    async def generate(self, requests: Sequence[GenRequest], *,
                       progress: ProgressFn | None = None) -> list[GenResponse]:
        return await cancellable(requests, lambda reqs: self._generate(reqs, progress))

    async def _generate(self, requests: Sequence[GenRequest], progress: ProgressFn | None) -> list[GenResponse]:
        self.calls += 1
        self.requests.extend(requests)  # recorded as sent, also when the call is then stopped
        if self._delay:
            await _sleep_unless_all_stopped(self._delay, requests)
        if self._errors:
            raise self._errors.pop(0)
        out: list[GenResponse] = []
        streams = []
        limit = self._caps.max_context
        for req in requests:
            prompt = len(_render(req).split())
            if limit is not None and prompt + req.params.max_tokens > limit:
                out.append(GenResponse.failed(ConfigError("max_tokens", req.params.max_tokens, f"prompt ({prompt} "
                                                          f"tokens) + max_tokens exceeds the context of {limit}")))
                continue
            if stopped(req):
                out.append(stopped_response(req, prompt_tokens=prompt))
                continue
            outputs = tuple(self._sample(req, i) for i in range(req.n))
            gen = sum(o.completion_tokens or 0 for o in outputs)
            if progress is not None:
                progress(gen)
            flops = None if self._parameters is None else 2.0 * self._parameters * (prompt + gen)
            usage = Usage(prompt_tokens=prompt, completion_tokens=gen, calls=1, wall_s=0.0, flops_estimate=flops)
            out.append(GenResponse(outputs=outputs, usage=usage))
            if req.on_text is not None:
                streams += [(req.on_text, i, re.findall(r"\s*\S+|\s+$", o.text)) for i, o in enumerate(outputs)]
        await self._stream(streams)
        return out

    async def _stream(self, streams: list) -> None:
        """Report the samples' text a word at a time, all samples abreast, `word_delay_s` apart (as a
        batch decodes): what live views see from a real backend."""
        longest = max((len(words) for _, _, words in streams), default=0)
        for step in range(max(longest, 1) if streams else 0):
            for on_text, i, words in streams:
                if step < len(words) or (step == 0 and not words):
                    on_text(i, words[step] if words else "", step >= len(words) - 1)
            if self._word_delay:
                await asyncio.sleep(self._word_delay)
