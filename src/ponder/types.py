"""Core value types that flow through the pipeline: problem → strategy → (generator, verifier) → result.

Everything here is a plain frozen dataclass that serialises to JSON with `to_dict()`; the eval log, the
server and `ponder ask --json` all use the same shapes.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ponder.errors import ConfigError
from ponder.params import SamplingParams
from ponder.usage import Usage

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "deadline", "cutoff", "error"]
""""deadline": stopped by the time limit, or cancelled because nobody waits for the sample any more."""
"""cutoff: stopped early by a ConfidenceStop (DeepConf online)."""


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Problem:
    """One question. Exactly one of `prompt` (the question text) or `messages` (a full chat) is set;
    `answer` is the reference, used only by oracle verifiers and the eval harness."""

    prompt: str | None = None
    messages: tuple[Message, ...] | None = None
    id: str = "0"
    answer: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.messages is not None:
            msgs = tuple(m if isinstance(m, Message) else Message(**m) for m in self.messages)
            object.__setattr__(self, "messages", msgs)
        if (self.prompt is None) == (self.messages is None):
            raise ConfigError("prompt", self.prompt, "give exactly one of prompt or messages")
        if self.prompt is not None and (not isinstance(self.prompt, str) or not self.prompt.strip()):
            raise ConfigError("prompt", self.prompt, "the question must be a non-empty string")
        if self.messages is not None and not self.messages:
            raise ConfigError("messages", self.messages, "must contain at least one message")

    @property
    def question(self) -> str:
        """The text of the question: the prompt, or the last user message."""
        if self.prompt is not None:
            return self.prompt
        users = [m.content for m in self.messages or () if m.role == "user"]
        return users[-1] if users else self.messages[-1].content  # type: ignore[index]


def token_confidence(t: TokenLogprob, k: int | None = None) -> float:
    """DeepConf's token confidence C_i: minus the mean logprob of the top (k) alternatives (the chosen
    token's alone when none were reported). Backends use it to cut traces (`ConfidenceStop`), the
    confidence verifiers to score them."""
    vals = [lp for _, lp in t.top[:k]] or [t.logprob]
    return -sum(vals) / len(vals)


@dataclass(frozen=True, slots=True)
class ConfidenceStop:
    """Stop a sample while it is generated once its confidence drops (DeepConf online): when the mean
    token confidence (−mean of the top_k logprobs) over the last `window` tokens falls below
    `threshold`, the sample ends with finish_reason "cutoff". Its tokens still count in usage."""

    threshold: float
    window: int = 32
    top_k: int = 5

    def __post_init__(self) -> None:
        if not isinstance(self.window, int) or self.window < 1:
            raise ConfigError("window", self.window, "must be an integer >= 1")
        if not isinstance(self.top_k, int) or not 1 <= self.top_k <= 20:
            raise ConfigError("top_k", self.top_k, "must be an integer in 1..20")

    def reached(self, confidences: Sequence[float]) -> bool:
        """True once the mean of the last `window` token confidences is below the threshold."""
        return len(confidences) >= self.window and sum(confidences[-self.window:]) / self.window < self.threshold


@dataclass(frozen=True, slots=True)
class GenRequest:
    """Ask a generator for `n` samples of one prompt. Give `messages` (chat; the backend applies the
    model's chat template) or `prompt` (raw text, no template). `prefix` is assistant text the samples
    must continue (used by step-level search). Sample i is drawn with seed (`seed`, i)."""

    messages: tuple[Message, ...] | None = None
    prompt: str | None = None
    n: int = 1
    params: SamplingParams = field(default_factory=SamplingParams)
    seed: int | None = None
    prefix: str = ""
    deadline: float | None = None
    """time.monotonic() after which decoding stops (finish_reason 'deadline')."""
    confidence_stop: ConfidenceStop | None = None
    """Cut samples whose running confidence falls too low (needs the `confidence_stop` capability)."""
    cancel: threading.Event | None = field(default=None, compare=False, repr=False)
    """Set when nobody waits for these samples any more (a client went away, a task was cancelled,
    the backend is closing): backends that decode in a thread stop them at the next token
    (finish_reason "deadline"). `backends.base.cancellable` gives each request one and sets it when
    the awaiting task is cancelled."""
    answer_stop: bool = False
    """End each sample as soon as its final answer is written (a closed `\\boxed{...}`), instead of
    letting it restate or ramble on to max_tokens; finish_reason "stop". Honoured where the
    `answer_stop` capability is set, ignored elsewhere (the samples are then merely longer)."""
    on_text: Callable[[int, str, bool], None] | None = field(default=None, compare=False, repr=False)
    """Called as sample i's text grows: (i, new text, finished). Backends that decode token by token
    call it while they decode (possibly from their decode thread); the others once per sample, when
    it is done. For live views (the server's event feed); None costs nothing."""

    def __post_init__(self) -> None:
        if (self.prompt is None) == (self.messages is None):
            raise ConfigError("prompt", self.prompt, "give exactly one of prompt or messages")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ConfigError("n", self.n, "must be an integer >= 1")


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """Log-probability of a generated token under the model (temperature 1), with the top
    alternatives when they were asked for."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class GenOutput:
    """One sample."""

    text: str
    finish_reason: FinishReason
    completion_tokens: int | None
    token_ids: tuple[int, ...] | None = None
    logprobs: tuple[TokenLogprob, ...] | None = None
    error: str | None = None
    stop_string: str | None = None
    """The stop string that ended the sample (None: end of generation, length, or unknown)."""


@dataclass(frozen=True, slots=True)
class GenResponse:
    """The answer to one GenRequest: its n samples, the compute they took, and what happened on the
    way (retries, fallbacks) for the trace. `error`: this request failed on its own (outputs are then
    empty); the other requests of the same call are unaffected. `raise_errors` turns it back into the
    exception for callers that want one."""

    outputs: tuple[GenOutput, ...]
    usage: Usage
    events: tuple[dict[str, Any], ...] = ()
    error: Exception | None = None

    @staticmethod
    def failed(error: Exception, usage: Usage | None = None) -> GenResponse:
        """The response of a request that failed on its own."""
        return GenResponse(outputs=(), usage=usage or Usage(), error=error)


@dataclass(frozen=True, slots=True)
class Step:
    text: str
    score: float | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """One finished solution as a strategy sees it."""

    text: str
    answer: str | None
    """Extracted final answer, None when none could be found."""
    finish_reason: FinishReason = "stop"
    score: float | None = None
    """The verifier's (aggregated) score, when a verifier ran."""
    steps: tuple[Step, ...] = ()
    tokens: int | None = None
    logprobs: tuple[TokenLogprob, ...] | None = dataclasses.field(default=None, repr=False)

    def to_dict(self, *, logprobs: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "text": self.text,
            "answer": self.answer,
            "finish_reason": self.finish_reason,
            "score": self.score,
            "tokens": self.tokens,
        }
        if self.steps:
            d["steps"] = [dataclasses.asdict(s) for s in self.steps]
        if logprobs and self.logprobs is not None:
            d["logprobs"] = [[t.token, t.logprob] for t in self.logprobs]
        return d


@dataclass(frozen=True, slots=True)
class Result:
    """What every strategy returns, always this type.

    `trace` is the ordered list of what the strategy did (samples drawn, votes, scores, budget
    decisions, backend retries), each a JSON-able dict with an "event" key, so a user can see why
    this answer was chosen."""

    answer: str | None
    candidates: tuple[Candidate, ...]
    trace: tuple[dict[str, Any], ...]
    usage: Usage
    strategy: str
    problem_id: str = "0"
    chosen: int | None = None
    """Index into candidates of the candidate whose text supports the answer."""

    @property
    def text(self) -> str | None:
        return None if self.chosen is None else self.candidates[self.chosen].text

    def to_dict(self, *, logprobs: bool = False) -> dict[str, Any]:
        return {
            "problem_id": self.problem_id,
            "strategy": self.strategy,
            "answer": self.answer,
            "chosen": self.chosen,
            "candidates": [c.to_dict(logprobs=logprobs) for c in self.candidates],
            "trace": list(self.trace),
            "usage": self.usage.to_dict(),
        }
