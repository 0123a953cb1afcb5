"""What one server holds and how a request becomes an Engine: the operator's `ServerConfig`, the
shared generator (behind the batching wrapper), model verifiers loaded once, and `Service.resolve` /
`Service.engine`, which turn a request's model name, optillm approach and `ponder` object into a
strategy, verifier, sampling params and budget, refusing what the operator did not allow.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ponder.backends.base import Generator
from ponder.backends.batching import BatchingGenerator
from ponder.effort import EFFORTS, Effort, check_level
from ponder.engine import Engine
from ponder.errors import ConfigError
from ponder.params import Budget, SamplingParams, check_number
from ponder.prompts import Prompter
from ponder.registry import (
    MODEL_VERIFIERS,
    SpansModels,
    builtin_strategies,
    check_strategy_name,
    check_verifier_name,
    default_verifier,
    is_budget,
    load_file_options,
    make_strategy,
    make_verifier,
    names_a_file,
    request_safe_verifiers,
    strategy_spec,
)
from ponder.server import errors, optillm, ui
from ponder.server.metrics import Metrics
from ponder.server.schemas import _Common
from ponder.strategies.spec import Cost, StrategySpec, count_options
from ponder.types import Result
from ponder.verifiers.base import Verifier, generated_tokens

_PREFIX = re.compile(r"^(?P<strategy>[a-z-]+?)(?:-(?P<n>\d+))?/(?P<model>.+)$")


SAFE_VERIFIERS = request_safe_verifiers()
"""Verifiers any request may name: they use the served model itself and load nothing."""


@dataclass(frozen=True)
class ServerConfig:
    model_name: str = "ponder"
    """The model id clients send (and `/v1/models` lists)."""
    strategy: str = "vote"
    n: int = 4
    verifier: str | None = None
    params: SamplingParams = field(default_factory=lambda: SamplingParams(max_tokens=512))
    api_keys: tuple[str, ...] = ()
    max_n: int = 64
    max_tokens: int = 4096
    max_inflight: int = 256
    max_body_bytes: int = 1 << 20
    batch_window_s: float = 0.01
    max_batch: int = 16
    """Dynamic batching: wait up to batch_window_s to gather up to max_batch requests (0 turns it off)."""
    verifiers: tuple[str, ...] = SAFE_VERIFIERS
    """Verifiers requests may name. Model verifiers (prm:PATH, orm:PATH) only when the operator lists
    them: they are loaded once when the app is built, never per request; `reference` (an oracle that
    needs answer keys) is never taken from requests."""
    strategies: tuple[str, ...] | None = None
    """Strategies requests may name (None: every built-in one)."""
    options: dict[str, Any] = field(default_factory=dict)
    """The operator's options for the default `strategy` (files they name, such as auto's stop rule,
    are read once when the app is built); a request's `ponder.options` go over them, except options
    that name files, which requests may never set."""
    body_timeout_s: float | None = 30.0
    """Time a client has to send its whole request body (408 after); the body is read, and its size
    bounded (413) whatever its framing, before the request takes an in-flight slot."""
    runs_dir: str | None = None
    """A folder of eval runs the /ui page may list and open (its direct subdirectories only)."""
    deadline_grace_s: float = 5.0
    """How long past its deadline a request may take to wind down before it is cancelled (504)."""
    request_timeout_s: float | None = 600.0
    """Wall-clock limit of every request (a request's own ponder.budget.wall_s can only lower it): it
    becomes the decode deadline the backends honour, and a request still running a few seconds past it
    is cancelled and answered 504 (a hung upstream no longer holds it). None: no limit."""
    max_samples: int | None = None
    """Most sequences one request may draw, on every model, counted by the strategy's declared cost
    bound before any work starts (None: 4 × max_n)."""
    max_request_tokens: int | None = None
    """Most tokens one request may generate, samples, search steps and verifier calls together
    (None: max_n × max_tokens)."""
    max_flops: float | None = None
    """Most FLOPs one request may spend (2 × parameters × tokens; None: no FLOP limit)."""
    drain_s: float = 30.0
    """On shutdown, how long requests in flight may finish; streams still running a second before the
    end get an error event and [DONE] (not a cut connection)."""
    efforts: Mapping[str, Effort] = field(default_factory=lambda: dict(EFFORTS))
    """What OpenAI's `reasoning_effort` / `reasoning.effort` levels run (`ponder.effort`)."""

    def __post_init__(self) -> None:  # a library user's bad setting fails here, naming it, not per request
        for name, lo, integer in (("n", 1, True), ("max_n", 1, True), ("max_tokens", 1, True),
                                  ("max_inflight", 1, True), ("max_body_bytes", 1, True), ("max_batch", 1, True),
                                  ("batch_window_s", 0.0, False)):
            check_number(name, getattr(self, name), lo=lo, integer=integer)
        check_number("deadline_grace_s", self.deadline_grace_s, lo=0.0)
        for name in ("request_timeout_s", "body_timeout_s"):
            if getattr(self, name) is not None:
                check_number(name, getattr(self, name), lo=0.0, lo_open=True)
        if self.n > self.max_n:
            raise ConfigError("n", self.n, f"must be <= max_n={self.max_n}")
        if self.max_samples is None:
            object.__setattr__(self, "max_samples", 4 * self.max_n)
        if self.max_request_tokens is None:
            object.__setattr__(self, "max_request_tokens", self.max_n * self.max_tokens)
        check_number("max_samples", self.max_samples, lo=1, integer=True)
        check_number("max_request_tokens", self.max_request_tokens, lo=1, integer=True)
        if self.max_flops is not None:
            check_number("max_flops", self.max_flops, lo=0.0, lo_open=True)


def _params(req: _Common, base: SamplingParams, limit: int) -> SamplingParams:
    names = ("max_output_tokens",) if hasattr(req, "max_output_tokens") else ("max_completion_tokens", "max_tokens")
    given = [(name, getattr(req, name)) for name in names if getattr(req, name) is not None]
    for name, value in given:  # 0 is a value, not "unset": a ConfigError (400) naming the field
        check_number(name, value, lo=1, integer=True)
    name, max_tokens = given[0] if given else (names[-1], None)
    if max_tokens is not None and max_tokens > limit:
        raise errors.APIError(400, f"{name}={max_tokens}: the server's limit is {limit}", param=name,
                              code="invalid_parameter")
    stop = (req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ())
    return base.merge(temperature=req.temperature, top_p=req.top_p, max_tokens=max_tokens, stop=stop or None)


def _prompt_bytes(req: _Common) -> int:
    """The request's text in bytes: an upper bound on its prompt tokens (the template's aside)."""
    return len(req.prompt_text().encode("utf-8", "replace"))


def _fresh_seed() -> int:
    """A request without a seed gets a fresh one (OpenAI's behaviour: identical requests differ); a
    client that wants reproducible samples sends `seed`."""
    return secrets.randbits(31)


@dataclass
class _Choice:
    """What one request runs: from the server's defaults, a model-name prefix or optillm approach, then
    the body's `ponder` object, in that order."""

    strategy: str
    n: int
    verifier: str | None
    options: dict[str, Any] = field(default_factory=dict)
    reread: bool = False


class Service:
    """What one app holds: the shared generator, its defaults and metrics."""

    def __init__(self, generator: Generator, config: ServerConfig,
                 arms: Mapping[str, Generator] | None = None) -> None:
        self.config = config
        self.metrics = Metrics()
        self.base = generator
        self.generator: Generator = self._batched(generator)
        self.arms = {m: self._batched(g) for m, g in (arms or {}).items()}
        """The other models the default strategy spans (route's arms), loaded by the operator at start-up."""
        self.inflight = 0
        self.draining_since: float | None = None
        """Set (monotonic time) when the server starts shutting down (`ponder serve` sets it on SIGTERM)."""
        for name in config.verifiers:
            check_verifier_name(name)
            if name == "reference":
                raise ConfigError("verifiers", name, "the reference verifier needs answer keys; it is for ponder eval")
        if config.strategies is not None:
            for name in config.strategies:
                check_strategy_name(name)  # a ConfigError names an unknown one
        self.options = load_file_options(config.strategy, config.options)
        spec = strategy_spec(config.strategy)
        default = make_strategy(config.strategy, spec.fixed_n or max(config.n, 1), **self.options)
        missing = [m for m in (default.models if isinstance(default, SpansModels) else ()) if m not in self.arms]
        if missing:  # a request must never make the server load a model: they all load before it serves
            raise ConfigError("arms", missing, f"the {config.strategy} strategy also needs these models; "
                                               "ponder serve loads them at start-up (create_app(..., arms=...))")
        # model verifiers load now, once: a request never makes the server load anything
        self.verifiers: dict[str, Verifier | None] = {
            name: make_verifier(name, self.generator) for name in config.verifiers if name.startswith(MODEL_VERIFIERS)}
        self.runs = ui.Runs(config.runs_dir) if config.runs_dir is not None else None
        self.efforts: dict[str, Effort] = {}
        """The effort levels (checked at start-up), N capped at max_n."""
        for level, e in config.efforts.items():
            check_level(level, "efforts")
            self.efforts[level] = dataclasses.replace(e, n=min(e.n, config.max_n))
            make_strategy(e.strategy, self.efforts[level].n, **e.options)
        if config.max_flops is not None and not generator.capabilities.parameters:
            raise ConfigError("max_flops", config.max_flops, f"needs a backend that knows its model's size to count "
                                                             f"FLOPs, and {generator.name} does not")

    def _batched(self, generator: Generator) -> Generator:
        c = self.config
        if c.max_batch > 1 and c.batch_window_s >= 0:
            return BatchingGenerator(generator, window_s=c.batch_window_s, max_requests=c.max_batch,
                                     on_batch=self.metrics.batch.observe)
        return generator

    def ui_options(self) -> dict[str, Any]:
        """What the /ui page may offer: only what this server allows."""
        c = self.config
        names = (list(c.strategies) if c.strategies is not None
                 else [name for name, spec in builtin_strategies().items() if spec.server])
        if c.strategy not in names:
            names.insert(0, c.strategy)
        return {"model": c.model_name, "served_by": self.base.name, "generation": True, "strategies": names,
                "strategy": c.strategy, "n": c.n,
                "verifier": c.verifier, "verifiers": list(c.verifiers), "max_n": c.max_n, "max_tokens": c.max_tokens,
                "default_max_tokens": c.params.max_tokens, "auth": bool(c.api_keys),
                "default_verifiers": {name: spec.verifier for name, spec in builtin_strategies().items()
                                      if spec.verifier},
                "optillm_approaches": list(optillm.APPROACHES)}

    def stop_by(self) -> float | None:
        """When runs must end (the server is shutting down), or None."""
        if self.draining_since is None:
            return None
        return self.draining_since + max(self.config.drain_s - 1.0, 0.0)

    def account(self, result: Result) -> None:
        """Count a finished request's tokens in the metrics."""
        u = result.usage
        self.metrics.tokens.labels("prompt").inc(u.prompt_tokens or 0)
        self.metrics.tokens.labels("completion").inc(u.completion_tokens or 0)

    def verifier(self, name: str | None) -> Verifier | None:
        if name is not None and name in self.verifiers:
            return self.verifiers[name]
        return make_verifier(name, self.generator)

    def resolve(self, req: _Common) -> _Choice:
        """What a request runs; unknown model → 404, unsupported optillm approach → 400."""
        c = self.config
        served = (c.model_name, "ponder")
        choice = _Choice(c.strategy, c.n, c.verifier)
        m = _PREFIX.match(req.model)
        opt = optillm.approach(req.model, served, (req.model_extra or {}).get("optillm_approach"))
        if m and m.group("strategy") in builtin_strategies():
            if m.group("model") not in served:
                raise errors.APIError(404, f"model {m.group('model')!r} is not served here (try {c.model_name!r})",
                                      param="model", code="model_not_found")
            choice.strategy = m.group("strategy")
            choice.n = int(m.group("n")) if m.group("n") else (strategy_spec(choice.strategy).fixed_n or c.n)
        elif req.model not in served and optillm.split_model(req.model, served) is None:
            raise errors.APIError(404, f"model {req.model!r} is not served here (try {c.model_name!r} or "
                                  f"'vote-8/{c.model_name}')", param="model", code="model_not_found")
        if opt is not None:
            choice = _Choice(opt.strategy, opt.n if opt.n is not None else c.n, opt.verifier, dict(opt.options),
                             opt.reread)
        o = req.ponder
        effort = req.effort()
        if effort is not None and not m and opt is None and not (o is not None and o.strategy is not None):
            e = self.efforts[check_level(effort, req.effort_param)]  # OpenAI's words, when nothing more precise
            choice = _Choice(e.strategy, e.n, None, dict(e.options))
        if o is not None:
            if o.strategy is not None:
                choice.strategy, choice.options = o.strategy, {}
                fixed = strategy_spec(o.strategy).fixed_n
                choice.n = fixed if fixed is not None and o.n is None else choice.n
            choice.n = o.n if o.n is not None else choice.n
            choice.verifier = o.verifier if o.verifier is not None else choice.verifier
        strategy, n, verifier = choice.strategy, choice.n, choice.verifier
        if n > c.max_n:
            raise errors.APIError(400, f"ponder.n={n}: the server's limit is {c.max_n}", param="ponder.n",
                                  code="invalid_parameter")
        if req.n not in (None, 1):
            raise errors.APIError(400, f"n={req.n}: one choice per request; ask for samples with ponder.n",
                                  param="n", code="invalid_parameter")
        if c.strategies is not None and strategy not in c.strategies and strategy != c.strategy:
            raise errors.APIError(400, f"ponder.strategy={strategy!r} is not allowed on this server; allowed: "
                                  f"{', '.join(c.strategies)}", param="ponder.strategy", code="not_allowed")
        choice.verifier = verifier = verifier or default_verifier(strategy)
        if verifier is not None and verifier not in c.verifiers and verifier != c.verifier:
            raise errors.APIError(400, f"ponder.verifier={verifier!r} is not allowed on this server; allowed: "
                                  f"{', '.join(c.verifiers)}", param="ponder.verifier", code="not_allowed")
        return choice

    def _within_limits(self, spec: StrategySpec, n: int, opts: dict[str, Any], asked: dict[str, Any],
                       max_tokens: int, verifier: Verifier | None, prompt_bytes: int) -> Cost:
        """The request's cost bound from the strategy's declaration, or a 400 naming what drives it past the
        operator's limits (samples, tokens, FLOPs). Nothing has run yet."""
        c = self.config
        cost = spec.bound(n, opts, max_tokens)  # a ConfigError (400) names a bad option first
        extra = generated_tokens(verifier) * cost.samples
        tokens = cost.tokens + extra
        counts = {k: v for k, v in asked.items() if spec.options and k in count_options(spec.options)}
        why = ", ".join([f"ponder.n={n}", *(f"ponder.options.{k}={v!r}" for k, v in counts.items()),
                         f"max_tokens={max_tokens}"])
        param = f"ponder.options.{next(iter(counts))}" if counts else "ponder.n"
        if cost.samples > (c.max_samples or 0):
            raise errors.APIError(400, f"{why}: {spec.name} could draw {cost.samples} samples; the server's limit is "
                                  f"{c.max_samples} per request (--max-samples)", param=param, code="over_limit")
        if tokens > (c.max_request_tokens or 0):
            raise errors.APIError(400, f"{why}: {spec.name} could generate {tokens} tokens; the server's limit is "
                                  f"{c.max_request_tokens} per request (--max-request-tokens)",
                                  param=param if counts else "max_tokens", code="over_limit")
        if c.max_flops is not None:
            flops = self._flops_bound(cost, extra, prompt_bytes)
            if flops > c.max_flops:
                raise errors.APIError(400, f"{why}: {spec.name} could spend {flops:.3g} FLOPs; the server's limit is "
                                      f"{c.max_flops:.3g} per request (--max-flops)", param=param, code="over_limit")
        return Cost(samples=cost.samples, tokens=tokens, arm_tokens=cost.arm_tokens)

    def _flops_bound(self, cost: Cost, extra: int, prompt_bytes: int) -> float:
        """2 × parameters × tokens: every sequence may evaluate the whole prompt (a token is at least a
        byte), and another model's tokens are priced at the largest one loaded."""
        own = self.generator.capabilities.parameters or 0.0
        arm = max((g.capabilities.parameters or 0.0 for g in self.arms.values()), default=own)
        prompt = prompt_bytes + 256  # the chat template's own tokens
        return 2.0 * (own * (cost.tokens - cost.arm_tokens + extra + cost.samples * prompt)
                      + max(own, arm) * cost.arm_tokens)

    def engine(self, req: _Common, *, raw: bool) -> tuple[Engine, bool, Cost]:
        """The request's engine, whether it asked for the trace, and the work bound it was admitted at."""
        choice = self.resolve(req)
        strategy = choice.strategy
        params = _params(req, self.config.params, self.config.max_tokens)
        b = req.ponder.budget if req.ponder and req.ponder.budget else None
        wall = b.wall_s if b else None
        limit = self.config.request_timeout_s
        if limit is not None:
            wall = limit if wall is None else min(wall, limit)
        budget = Budget(samples=b.samples if b else None, tokens=b.tokens if b else None, wall_s=wall)
        prompter = Prompter(instruction="", raw=raw, reread=choice.reread)
        prompt_bytes = _prompt_bytes(req)
        operator = dict(self.options) if strategy == self.config.strategy else {}
        opts = {**operator, **choice.options}
        asked = {k: v for k, v in ((req.ponder.options if req.ponder else None) or {}).items() if v is not None}
        for key, value in asked.items():  # null means "the default": it never removes what the operator set
            param = f"ponder.options.{key}"
            if names_a_file(strategy, key):
                raise errors.APIError(400, f"{param}: names a file, which only the operator sets "
                                      "(ponder serve --option)", param=param, code="not_allowed")
            limit = operator.get(key)
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if limit is not None and is_budget(strategy, key) and numeric and value > limit:
                raise errors.APIError(400, f"{param}={value!r}: a request may lower the operator's {key}={limit:g}, "
                                      "never raise it", param=param, code="not_allowed")
        opts.update(asked)
        spec = strategy_spec(strategy)
        if spec.options is None:
            raise errors.APIError(400, f"ponder.strategy={strategy!r}: a plugin that declares no options (no "
                                  "StrategySpec), so the server cannot bound its work", param="ponder.strategy",
                                  code="not_allowed")
        verifier = self.verifier(choice.verifier)
        cost = self._within_limits(spec, choice.n, opts, asked, params.max_tokens, verifier, prompt_bytes)
        strat = make_strategy(strategy, choice.n, arms=self.arms if spec.models else None, **opts)
        eng = Engine(self.generator, strat, verifier,
                     params=params, budget=budget, seed=req.seed if req.seed is not None else _fresh_seed(),
                     prompter=prompter)
        return eng, bool(req.ponder and req.ponder.return_trace), cost
