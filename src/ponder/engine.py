"""The engine: runs a strategy over many problems concurrently, with explicit per-problem seeds.

An `Engine` pairs one generator, strategy and verifier and checks the pairing when it is built. Each
problem gets a fresh `RunContext` (budget meter, trace, usage) and a seed derived from the engine seed
and the problem id, so results do not depend on the order problems are run in. `solve()` is the
one-call convenience API over it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ponder.backends.base import Generator, ProgressFn
from ponder.budget import BudgetMeter
from ponder.errors import BackendError, BudgetExhaustedError, ConfigError
from ponder.params import Budget, SamplingParams
from ponder.prompts import Prompter
from ponder.strategies.base import RunContext, Strategy, derive_seed
from ponder.types import Problem, Result
from ponder.usage import Usage
from ponder.verifiers.base import Verifier


class Engine:
    def __init__(self, generator: Generator, strategy: Strategy, verifier: Verifier | None = None, *,
                 params: SamplingParams | None = None, budget: Budget | None = None, seed: int = 0,
                 prompter: Prompter | None = None, concurrency: int = 4) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError("seed", seed, "must be an integer")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigError("concurrency", concurrency, "must be an integer >= 1")
        self.generator, self.strategy, self.verifier = generator, strategy, verifier
        self.params = params or SamplingParams()
        self.budget = budget or Budget()
        self.seed = seed
        self.prompter = prompter or Prompter()
        self.concurrency = concurrency
        strategy.check(generator, verifier, self.params)

    def with_seed(self, seed: int) -> Engine:
        """The same engine (shared generator, strategy, verifier) with another seed."""
        return Engine(self.generator, self.strategy, self.verifier, params=self.params, budget=self.budget,
                      seed=seed, prompter=self.prompter, concurrency=self.concurrency)

    def with_generator(self, generator: Generator) -> Engine:
        """The same engine over another generator (e.g. the first one wrapped for batching)."""
        return Engine(generator, self.strategy, self.verifier, params=self.params, budget=self.budget,
                      seed=self.seed, prompter=self.prompter, concurrency=self.concurrency)

    def context(self, problem: Problem, progress: ProgressFn | None = None,
                listener: Callable[[dict[str, Any]], None] | None = None) -> RunContext:
        return RunContext(generator=self.generator, verifier=self.verifier, params=self.params,
                          meter=BudgetMeter(self.budget), seed=derive_seed(self.seed, problem.id),
                          prompter=self.prompter, progress=progress, listener=listener)

    async def asolve(self, problem: Problem, progress: ProgressFn | None = None, *,
                     listener: Callable[[dict[str, Any]], None] | None = None) -> Result:
        """Run the strategy on one problem; backend and budget errors propagate. `listener` sees the
        run's events live (trace events, sample text deltas, usage): see `RunContext.listener`."""
        return await self.strategy.run(problem, self.context(problem, progress, listener))

    async def arun(self, problems: Iterable[Problem], *, progress: ProgressFn | None = None,
                   on_result: Callable[[Result], Any] | None = None) -> list[Result]:
        """Run every problem (at most `concurrency` at once). A problem whose backend calls fail, whose
        request the backend refuses (e.g. a prompt longer than the context) or whose budget is spent
        yields a Result with answer None and the error in its trace, so one failure never loses the
        batch. Results come back in input order; `on_result` (a function
        or a coroutine function) sees each as soon as it is done."""
        probs = list(problems)
        ids = [p.id for p in probs]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ConfigError("problem.id", dup, "problem ids must be unique within a run")
        sem = asyncio.Semaphore(self.concurrency)

        async def one(p: Problem) -> Result:
            async with sem:
                ctx = self.context(p, progress)
                try:
                    res = await self.strategy.run(p, ctx)
                except (BackendError, BudgetExhaustedError, ConfigError) as e:  # this problem's own failure
                    ctx.event("error", type=type(e).__name__, message=str(e))
                    res = Result(answer=None, candidates=(), trace=tuple(ctx.trace), usage=ctx.usage,
                                 strategy=self.strategy.name, problem_id=p.id)
                if on_result is not None:
                    out = on_result(res)
                    if inspect.isawaitable(out):
                        await out
                return res

        return list(await asyncio.gather(*(one(p) for p in probs)))

    def run(self, problems: Iterable[Problem], **kw: Any) -> list[Result]:
        return asyncio.run(self.arun(problems, **kw))


def total_usage(results: Sequence[Result]) -> Usage:
    return sum((r.usage for r in results), Usage())


def build_engine(strategy: str | Strategy = "vote", n: int | None = None, *, options: Mapping[str, Any] | None = None,
                 verifier: str | Verifier | None = None, generator: Generator | None = None,
                 backend: str = "llamacpp", model: str | None = None,
                 backend_options: Mapping[str, Any] | None = None, params: SamplingParams | None = None,
                 budget: Budget | None = None, seed: int = 0, instruction: str | None = None,
                 concurrency: int = 4, pool: Any = None) -> Engine:
    """An Engine from the names users type — CLI flags, recipe fields, `solve()` arguments — so the
    three front ends build it one way. Names and options are checked first (cheap); then the model
    loads unless `generator` is given, with the generators of any other models the strategy spans
    (`route`'s arms) bound to it. The verifier defaults to the strategy's declared one; options that
    name a file (a stop rule, a policy, a route table) are read here. `pool`: a run-wide TokenPool or
    FlopPool for strategies that declare one."""
    from ponder.registry import (
        check_verifier_name,
        default_verifier,
        generator_for,
        load_file_options,
        make_strategy,
        make_verifier,
    )

    if isinstance(strategy, str):
        strat = make_strategy(strategy, n, pool=pool, **load_file_options(strategy, dict(options or {})))
        if verifier is None:
            verifier = default_verifier(strategy)
    else:
        strat = strategy
    if isinstance(verifier, str):
        check_verifier_name(verifier)
    gen = generator if generator is not None else generator_for(strat, backend, model, **dict(backend_options or {}))
    ver = make_verifier(verifier, gen) if verifier is None or isinstance(verifier, str) else verifier
    prompter = Prompter() if instruction is None else Prompter(instruction=instruction)
    return Engine(gen, strat, ver, params=params, budget=budget, seed=seed, prompter=prompter,
                  concurrency=concurrency)


def solve(prompt: str | Problem, *, strategy: str | Strategy = "vote", n: int | None = None,
          options: Mapping[str, Any] | None = None, verifier: str | Verifier | None = None,
          model: str | None = None, generator: Generator | str | None = None, backend: str = "llamacpp",
          budget: Budget | None = None, params: SamplingParams | None = None, seed: int = 0,
          progress: ProgressFn | None = None, **sampling: Any) -> Result:
    """Answer one question with a test-time scaling strategy.

    prompt: the question (or a Problem). strategy: a name (`ponder strategies` lists them) or a
    Strategy. n: samples (N; None: the strategy's default). options: the strategy's own options
    (e.g. {"batch": 2} for auto). verifier: a name or a Verifier (weighted-vote and best-of-n default
    to token confidence). model: a packaged or distilled model name or a GGUF path (or, with another
    `backend`, what that backend loads); generator: a Generator you built instead. sampling:
    SamplingParams fields (temperature=..., max_tokens=...).
    """
    if model is not None and generator is not None:
        raise ConfigError("model", model, "give model= or generator=, not both")
    problem = prompt if isinstance(prompt, Problem) else Problem(prompt=prompt)
    loaded = None if generator is None or isinstance(generator, str) else generator
    engine = build_engine(strategy, n, options=options, verifier=verifier, generator=loaded, backend=backend,
                          model=model if model is not None else generator if isinstance(generator, str) else None,
                          params=(params or SamplingParams()).merge(**sampling), budget=budget, seed=seed)
    return asyncio.run(engine.asolve(problem, progress))
