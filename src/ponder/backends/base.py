"""The generator protocol every backend implements, and the capabilities it declares.

A generator is batch-first: `await generate([req, ...])` returns one `GenResponse` per request, in
order, each with `req.n` samples. A request that fails on its own (a prompt too long for the context,
a 400 from an upstream) gets a response with `error` set and no outputs; it never fails the other
requests of the call (`per_request` does this for backends that serve requests one by one). An
exception from `generate` means the whole call failed. What a backend can do beyond plain sampling is
declared in `Capabilities`; strategies check it when they are built (`require`), never mid-run.

The contract every backend keeps (`tests/contract.py` checks each one): a request whose caller sets its
`cancel` event, or whose `deadline` passes, stops at the backend's next step and ends with finish
"deadline" (`stopped`, `stopped_response`); one request's failure is its own (`per_request`); a
request the backend cannot run (a prompt over its context) fails alone, before any decoding.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ponder.errors import CapabilityError, PonderError
from ponder.types import GenOutput, GenRequest, GenResponse
from ponder.usage import Usage

ProgressFn = Callable[[int], None]
"""Called with the number of tokens generated since the last call, while a batch decodes."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    logprobs: bool = False
    """Per-token log-probabilities of generated tokens."""
    top_logprobs: int = 0
    """How many alternatives per position the backend can report (0: none)."""
    prefix_reuse: bool = False
    """A repeated prompt prefix is not re-evaluated (KV reuse / server prefix caching)."""
    native_n: bool = False
    """n samples of one prompt share the prompt's evaluation."""
    max_context: int | None = None
    """Context window in tokens, when known."""
    chat: bool = True
    """Accepts chat messages (applies a chat template)."""
    continuation: bool = False
    """Can continue a partial assistant answer (`GenRequest.prefix` with messages): step search."""
    confidence_stop: bool = False
    """Honours `GenRequest.confidence_stop` while generating (DeepConf online)."""
    answer_stop: bool = False
    """Honours `GenRequest.answer_stop`: a sample ends once its final answer is written."""
    parameters: float | None = None
    """The model's parameter count where known (FLOPs ≈ 2 × parameters × tokens): the server bounds a
    request's FLOPs with it before any work starts."""


@runtime_checkable
class Generator(Protocol):
    """Anything that turns requests into samples."""

    @property
    def name(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities: ...

    async def generate(self, requests: Sequence[GenRequest], *,
                       progress: ProgressFn | None = None) -> list[GenResponse]: ...


def require(generator: Generator, *, logprobs: int | None, who: str) -> None:
    """Raise CapabilityError when `generator` cannot supply `logprobs` top alternatives (0: only the
    chosen token's logprob) that `who` needs."""
    if logprobs is None:
        return
    caps = generator.capabilities
    if not caps.logprobs:
        raise CapabilityError(
            "generator", generator.name,
            f"{who} needs per-token logprobs, which this backend does not provide")
    if logprobs > caps.top_logprobs:
        raise CapabilityError(
            "generator", generator.name,
            f"{who} needs {logprobs} top logprobs per token; this backend offers {caps.top_logprobs}")


async def per_request(calls: Iterable[Awaitable[GenResponse]]) -> list[GenResponse]:
    """Await one call per request, concurrently; a call that raises a ponder error becomes that
    request's error response instead of failing its neighbours (anything else propagates)."""
    out = await asyncio.gather(*calls, return_exceptions=True)
    for r in out:
        if isinstance(r, BaseException) and not isinstance(r, PonderError):
            raise r
    return [GenResponse.failed(r) if isinstance(r, PonderError) else r for r in out]  # type: ignore[misc]


def raise_errors(responses: Sequence[GenResponse]) -> None:
    """Raise the first per-request error of a call (for callers whose requests stand or fall together)."""
    for r in responses:
        if r.error is not None:
            raise r.error


async def cancellable(requests: Sequence[GenRequest],
                      call: Callable[[list[GenRequest]], Awaitable[list[GenResponse]]]) -> list[GenResponse]:
    """Run `call` on the requests, each carrying a cancel token (its own, or a fresh one); if the
    awaiting task is cancelled, set the tokens, so work running in another thread (llama.cpp's decode
    loop) or merged with other callers' requests (the batching wrapper) stops for these requests
    only, at its next step."""
    reqs = [r if r.cancel is not None else dataclasses.replace(r, cancel=threading.Event()) for r in requests]
    try:
        return await call(reqs)
    except asyncio.CancelledError:
        for r in reqs:
            r.cancel.set()  # type: ignore[union-attr]
        raise


def stopped(req: GenRequest) -> bool:
    """Whether `req`'s caller has cancelled it or its deadline has passed."""
    return (req.cancel is not None and req.cancel.is_set()) or (
        req.deadline is not None and time.monotonic() >= req.deadline)


def stopped_response(req: GenRequest, *, prompt_tokens: int | None = None,
                     events: tuple[dict[str, Any], ...] = ()) -> GenResponse:
    """The response of a request stopped before it produced anything: n empty samples, finish "deadline"."""
    outs = tuple(GenOutput(text="", finish_reason="deadline", completion_tokens=0) for _ in range(req.n))
    return GenResponse(outputs=outs, usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=0, calls=1),
                       events=events)
