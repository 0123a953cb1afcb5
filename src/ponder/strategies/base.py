"""The strategy protocol and the per-run context every strategy receives.

A strategy is one async method, `run(problem, ctx) -> Result`, plus `check(...)`, called when the
strategy is paired with a generator and verifier (before any run) so incompatible pairings fail early
with an error that names what is missing. `RunContext` carries everything a run needs (generator,
verifier, sampling parameters, budget meter, seed, trace); nothing is global.

Shared helpers here turn generator output into `Candidate`s, score them, and finish a `Result`, so
each strategy module holds only its own decision logic.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ponder.answers import extract_answer
from ponder.backends.base import Generator, ProgressFn, raise_errors, require
from ponder.budget import BudgetMeter, Grant
from ponder.errors import ConfigError
from ponder.params import SamplingParams
from ponder.prompts import Prompter, build_request
from ponder.types import Candidate, ConfidenceStop, GenOutput, GenRequest, GenResponse, Problem, Result
from ponder.usage import Usage
from ponder.verifiers.base import Verifier


@dataclass
class RunContext:
    """Everything one strategy run over one problem may use. Built fresh per problem."""

    generator: Generator
    verifier: Verifier | None
    params: SamplingParams
    meter: BudgetMeter
    seed: int
    prompter: Prompter = field(default_factory=Prompter)
    progress: ProgressFn | None = None
    trace: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    started: float = field(default_factory=time.perf_counter)
    listener: Callable[[dict[str, Any]], None] | None = None
    """Sees every trace event as it happens, plus live `delta` (sample text), `sample_done` and
    `usage` events that stay out of the trace: the server's event feed. May be called from a
    backend's decode thread."""
    calls: int = 0
    """Backend calls made so far (numbers the calls in live events)."""

    def event(self, name: str, **data: Any) -> None:
        self.record({"event": name, **data})

    def record(self, event: dict[str, Any]) -> None:
        self.trace.append(event)
        if self.listener is not None:
            self.listener(event)

    def live(self, name: str, **data: Any) -> None:
        """An event for the listener only (not kept in the trace)."""
        if self.listener is not None:
            self.listener({"event": name, **data})

    def watch(self, requests: list[GenRequest]) -> tuple[list[GenRequest], Callable[[Sequence[GenResponse]], None]]:
        """With a listener: the requests of this call, each reporting its samples' text as it grows,
        and a function that completes, from the responses, what the backend did not report (HTTP
        backends without streaming, vLLM and transformers report nothing while they decode; a sample
        cut at a stop string ends shorter than what was streamed): every backend feeds a live view."""
        if self.listener is None:
            return requests, lambda resps: None
        self.calls += 1
        call = self.calls
        texts: list[dict[int, str]] = [{} for _ in requests]
        done: list[set[int]] = [set() for _ in requests]

        def report(r_i: int, i: int, text: str, finished: bool, *, replace: bool = False) -> None:
            if i in done[r_i]:
                return
            texts[r_i][i] = text if replace else texts[r_i].get(i, "") + text
            if text or replace:
                extra = {"replace": True} if replace else {}
                self.live("delta", call=call, request=r_i, sample=i, text=text, **extra)
            if finished:
                done[r_i].add(i)
                self.live("sample_done", call=call, request=r_i, sample=i, answer=extract_answer(texts[r_i][i]))

        def settle(resps: Sequence[GenResponse]) -> None:
            for r_i, resp in enumerate(resps):
                for i, o in enumerate(resp.outputs):
                    seen = texts[r_i].get(i, "")
                    if o.text.startswith(seen):
                        report(r_i, i, o.text[len(seen):], True)
                    else:
                        report(r_i, i, o.text, True, replace=True)

        def reporter(r_i: int) -> Callable[[int, str, bool], None]:
            return lambda i, text, fin: report(r_i, i, text, fin)

        out = [dataclasses.replace(r, on_text=reporter(r_i)) for r_i, r in enumerate(requests)]
        return out, settle


class Strategy(Protocol):
    name: str

    def check(self, generator: Generator, verifier: Verifier | None, params: SamplingParams) -> None:
        """Raise ConfigError / CapabilityError if this pairing cannot work."""
        ...

    async def run(self, problem: Problem, ctx: RunContext) -> Result: ...


def check_common(strategy: str, generator: Generator, verifier: Verifier | None,
                 *, needs_verifier: bool) -> None:
    if needs_verifier and verifier is None:
        raise ConfigError("verifier", None, f"strategy {strategy!r} needs a verifier")
    if verifier is not None:
        require(generator, logprobs=verifier.logprobs, who=f"verifier {verifier.name!r}")


def needs_sampling(strategy: str, params: SamplingParams, why: str = "its samples would all be identical") -> None:
    """The one rule for strategies that draw several samples: temperature must be > 0."""
    if params.greedy:
        raise ConfigError("temperature", params.temperature, f"strategy {strategy!r} needs temperature > 0: {why}")


def derive_seed(seed: int, label: str) -> int:
    """A seed for one part of a run (a round, an extra draw), derived from the run's seed: stable,
    independent across labels, and a non-negative 63-bit integer every backend accepts."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{label}".encode()).digest()[:8], "big") >> 1


def check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError("n", n, "must be an integer >= 1")
    return n


def to_candidate(o: GenOutput) -> Candidate:
    return Candidate(text=o.text, answer=extract_answer(o.text), finish_reason=o.finish_reason,
                     tokens=o.completion_tokens, logprobs=o.logprobs)


async def generate(ctx: RunContext, requests: list[GenRequest], grant: Grant, *, extra_tokens_per_sample: int = 0,
                   prompt_events: bool = True) -> list[GenResponse]:
    """One batched generator call made under `grant`: its backend events (retries, fallbacks; the
    per-request prompt_eval events unless `prompt_events`) go to the trace, its usage to the run,
    and the grant's reservation is replaced by what was spent."""
    watched, settle = ctx.watch(requests)
    resps = await ctx.generator.generate(watched, progress=ctx.progress)
    settle(resps)
    spent = sum((r.usage for r in resps), Usage())
    for r in resps:
        for e in r.events:
            if prompt_events or e.get("event") != "prompt_eval":
                ctx.record(e)
    ctx.usage = ctx.usage + spent
    ctx.meter.settle(grant, spent, extra_tokens_per_sample=extra_tokens_per_sample)
    if ctx.listener is not None:
        u = ctx.usage
        ctx.live("usage", prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens, calls=u.calls,
                 flops=u.flops_estimate, wall_s=round(time.perf_counter() - ctx.started, 3),
                 tokens_left=ctx.meter.tokens_left(), samples_left=ctx.meter.samples_left())
    raise_errors(resps)  # a request of this problem failed on its own: the problem fails, not its neighbours
    return resps


async def sample(problem: Problem, ctx: RunContext, n: int, *, params: SamplingParams | None = None,
                 seed: int | None = None, confidence_stop: ConfidenceStop | None = None,
                 answer_stop: bool = False, cancel: threading.Event | None = None) -> list[Candidate]:
    """Draw up to n full solutions in one batched call, within the budget. Strategies that sample in
    rounds pass a different `seed` per round (sample i of a call is drawn with (seed, i)). Setting
    `cancel` asks the backend to stop the samples early (finish "deadline") and still report what
    they spent; backends that cannot stop a call in flight finish it."""
    params = params or ctx.params
    if ctx.verifier is not None and ctx.verifier.logprobs is not None:
        want = ctx.verifier.logprobs
        params = params.merge(logprobs=max(want, params.logprobs or 0))
    extra = int(getattr(ctx.verifier, "tokens_per_candidate", 0) or 0)
    grant = ctx.meter.grant(n, params.max_tokens, extra_tokens_per_sample=extra)
    if grant.reason:
        ctx.event("budget", asked=n, granted=grant.n, max_tokens=grant.max_tokens, bound=grant.reason)
    params = params.merge(max_tokens=grant.max_tokens)
    req = build_request(ctx.prompter, problem, chat=ctx.generator.capabilities.chat, n=grant.n,
                        params=params, seed=ctx.seed if seed is None else seed, deadline=ctx.meter.deadline,
                        confidence_stop=confidence_stop, answer_stop=answer_stop, cancel=cancel)
    [resp] = await generate(ctx, [req], grant, extra_tokens_per_sample=extra)
    cands = [to_candidate(o) for o in resp.outputs]
    ctx.event("sample", n=len(cands), params=params.to_dict(),
              finish_reasons=[c.finish_reason for c in cands],
              answers=[c.answer for c in cands])
    return cands


async def score(problem: Problem, ctx: RunContext, cands: Sequence[Candidate]) -> list[Candidate]:
    """Candidates with the verifier's scores filled in."""
    assert ctx.verifier is not None
    scored = await ctx.verifier.score(problem, cands)
    ctx.usage = ctx.usage + scored.usage
    ctx.event("score", verifier=ctx.verifier.name, scores=list(scored.values))
    return [dataclasses.replace(c, score=s) for c, s in zip(cands, scored.values)]


def finish(ctx: RunContext, strategy: str, problem: Problem, cands: Sequence[Candidate],
           answer: str | None, chosen: int | None) -> Result:
    usage = ctx.usage.with_wall(time.perf_counter() - ctx.started)
    return Result(answer=answer, candidates=tuple(cands), trace=tuple(ctx.trace), usage=usage,
                  strategy=strategy, problem_id=problem.id, chosen=chosen)
