"""Names users type (CLI flags, server fields, recipes) → the objects they mean, from one declaration each.

- **Strategies** declare themselves beside their code (`SPECS` in their module: a `StrategySpec` with
  typed options, capability flags and a cost bound; `ponder.strategies.spec`). `STRATEGY_MODULES`
  lists the modules; adding a strategy is one file plus one line there. Everything the front ends
  need (names, default N and verifier, help, which options name files or are budgets, the request
  schema, the cost bound) is read off the specs.
- **Verifiers** and **backends** are declared in `VERIFIERS` and `BACKENDS` below (name, how to build
  it, help, and for verifiers whether a server request may name it).

**Plugins.** A package adds strategies, verifiers or backends by declaring entry points; they are
looked up (and imported) only when a name is not a built-in one:

    [project.entry-points."ponder.strategies"]
    my-vote = "my_pkg.strategies:SPEC"          # a StrategySpec (a bare class still works: called as
                                                # MyVote(n, **options), its options unchecked, no server)
    [project.entry-points."ponder.verifiers"]
    my-judge = "my_pkg.verifiers:make_judge"    # called as make_judge(generator)
    [project.entry-points."ponder.backends"]
    my-server = "my_pkg.backends:MyGenerator"   # called as MyGenerator(model, **options)

Entry points, not a mutable table a decorator fills: nothing global changes at import time, and
what a name means is fixed by what is installed.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ponder.backends.base import Generator
from ponder.errors import ConfigError
from ponder.strategies.base import Strategy
from ponder.strategies.spec import StrategySpec, budget_options, file_options
from ponder.verifiers.base import Verifier

STRATEGY_MODULES = (
    "ponder.strategies.greedy", "ponder.strategies.vote", "ponder.strategies.best_of_n",
    "ponder.strategies.beam", "ponder.strategies.dvts", "ponder.strategies.particle", "ponder.strategies.mcts",
    "ponder.strategies.adaptive", "ponder.strategies.think", "ponder.strategies.revise",
    "ponder.allocation.auto", "ponder.allocation.route", "ponder.allocation.cascade", "ponder.allocation.strategy",
)
"""The modules whose `SPECS` are the built-in strategies, in the order help and docs list them."""

FILE_LOADERS = {"stop-rule": "ponder.allocation.stopping:StopRule", "policy": "ponder.allocation.policy:Policy",
                "route-table": "ponder.allocation.route_table:RouteTable"}
"""How each kind of file an option names is read (once, where the operator set it)."""


def _plugin(group: str, name: str) -> Callable[..., Any] | None:
    """The object an installed package registers under `name` in entry-point `group`, or None."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=group):
        if ep.name == name:
            try:
                return ep.load()
            except Exception as e:  # a broken plugin: say which, do not crash with its traceback
                kind = {"ponder.strategies": "strategy", "ponder.verifiers": "verifier"}.get(group, "backend")
                raise ConfigError(kind, name, f"the plugin {ep.value!r} failed to load: {e}") from e
    return None


def plugin_names(group: str) -> list[str]:
    from importlib.metadata import entry_points

    return sorted(ep.name for ep in entry_points(group=group))


# -- strategies ---------------------------------------------------------------------------------------

def builtin_strategies() -> dict[str, StrategySpec]:
    """The built-in strategies' declarations by name, in `STRATEGY_MODULES` order."""
    out: dict[str, StrategySpec] = {}
    for module in STRATEGY_MODULES:
        for spec in importlib.import_module(module).SPECS:
            out[spec.name] = spec
    return out


def strategy_names(*, plugins: bool = True) -> list[str]:
    return [*builtin_strategies(), *(plugin_names("ponder.strategies") if plugins else [])]


def strategy_spec(name: str) -> StrategySpec:
    """The declaration of strategy `name` (built in or a plugin), or a ConfigError listing the known ones."""
    spec = builtin_strategies().get(name) if isinstance(name, str) else None
    if spec is not None:
        return spec
    plugin = _plugin("ponder.strategies", name) if isinstance(name, str) else None
    if plugin is None:
        raise ConfigError("strategy", name, f"unknown; choose from {', '.join(strategy_names())}")
    if isinstance(plugin, StrategySpec):
        return plugin
    return StrategySpec(name=name, build=plugin, options=None, server=False,
                        summary=(inspect.getdoc(plugin) or "").split("\n")[0])


def check_strategy_name(name: str) -> None:
    """A ConfigError listing the known strategies unless `name` is one (built in or a plugin)."""
    strategy_spec(name)


def default_n(strategy: str) -> int:
    """N when the user gives none (the strategy's declaration: 1 for greedy and think, else 8 or 16)."""
    return strategy_spec(strategy).default_n


def default_verifier(strategy: str) -> str | None:
    return strategy_spec(strategy).verifier


def _check_signature(factory: Callable[..., Any], what: str, options: Mapping[str, Any]) -> None:
    """For a plugin that declares no options: unknown ones are a ConfigError naming the known ones."""
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    known = [p.name for p in params[1:] if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for key in sorted(options):
        if key not in known:
            raise ConfigError(key, options[key], f"is not an option of {what} (options: {', '.join(known) or 'none'})")


def make_strategy(name: str, n: int | None = None, *, pool: Any = None, arms: Mapping[str, Generator] | None = None,
                  **options: Any) -> Strategy:
    """Strategy `name` with N samples (None: its default) and its options, validated against its
    declaration (see `ponder strategies` or the docs' table for each one's options). `pool` (a run-wide
    TokenPool or FlopPool) and `arms` (the generators of other models) are wiring, not options: they go
    only to strategies that declare them."""
    spec = strategy_spec(name)
    n = spec.default_n if n is None else n
    given = {k: v for k, v in options.items() if v is not None}
    wiring: dict[str, Any] = {}
    if pool is not None:
        if spec.pool is None:
            raise ConfigError("pool", type(pool).__name__, f"strategy {name!r} takes no run-wide budget")
        wiring["pool"] = pool
    if arms:
        if not spec.models:
            raise ConfigError("arms", sorted(arms), f"strategy {name!r} uses no other models")
        wiring["arms"] = arms
    if spec.options is None:
        _check_signature(spec.build, f"strategy {name!r}", given)
    else:
        spec.parse(given)  # the declared check first: its error names the option as the user wrote it
    return spec.build(n, **given, **wiring)


def names_a_file(strategy: str, key: str) -> bool:
    """Whether option `key` of `strategy` names a file. A plugin without declared options: presumed to
    when a built-in strategy's option of that name does (its code is not ponder's to vouch for)."""
    spec = strategy_spec(strategy)
    if spec.options is not None:
        return key in file_options(spec.options)
    return any(key in file_options(s.options) for s in builtin_strategies().values() if s.options is not None)


def is_budget(strategy: str, key: str) -> bool:
    """Whether option `key` of `strategy` limits the work (a server request may only lower it)."""
    spec = strategy_spec(strategy)
    return spec.options is not None and key in budget_options(spec.options)


def load_file_options(strategy: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """`strategy`'s options with every file-naming value read into its object (so nothing is read per
    request)."""
    out = dict(options)
    spec = strategy_spec(strategy)
    for key, kind in (file_options(spec.options) if spec.options is not None else {}).items():
        if isinstance(out.get(key), str):
            module, cls = FILE_LOADERS[kind].split(":")
            out[key] = getattr(importlib.import_module(module), cls).load(out[key])
    return out


@runtime_checkable
class SpansModels(Protocol):
    """A strategy that uses other models than the engine's (`StrategySpec.models`): route, cascade."""

    @property
    def models(self) -> list[str]:
        """The other models' names."""

    @property
    def default_model(self) -> str | None:
        """The engine's own model when the user names none (route: the table's probe model)."""

    def bind(self, generators: Mapping[str, Generator]) -> None: ...


def other_models(strategy: Strategy) -> list[str]:
    """The models besides the engine's own that `strategy` needs bound before it runs."""
    return list(strategy.models) if isinstance(strategy, SpansModels) else []


def own_model(strategy: Strategy) -> str | None:
    """The model a strategy runs its own samples on when the user names none (route: the table's probe)."""
    return strategy.default_model if isinstance(strategy, SpansModels) else None


# -- verifiers ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class VerifierSpec:
    name: str
    build: Callable[[Generator], Verifier]
    help: str
    request_safe: bool = True
    """A server request may name it: it uses the served model itself and loads nothing."""


def _confidence(method: str) -> Callable[[Generator], Verifier]:
    def make(generator: Generator) -> Verifier:
        from ponder.verifiers.confidence import ConfidenceVerifier

        return ConfidenceVerifier(method)
    return make


def _judge(generator: Generator) -> Verifier:
    from ponder.verifiers.judge import LLMJudge

    return LLMJudge(generator)


def _llm_prm(generator: Generator) -> Verifier:
    from ponder.verifiers.llm_prm import LLMPRM

    return LLMPRM(generator)


def _reference(generator: Generator) -> Verifier:
    from ponder.verifiers.programmatic import ReferenceVerifier

    return ReferenceVerifier()


VERIFIERS: Mapping[str, VerifierSpec] = {v.name: v for v in (
    VerifierSpec("confidence", _confidence("lowest-group"),
                 "DeepConf lowest group confidence from the samples' own logprobs (no extra calls)"),
    VerifierSpec("confidence-mean", _confidence("mean"), "geometric-mean token probability of each sample"),
    VerifierSpec("confidence-tail", _confidence("tail"), "mean token confidence over each sample's last tokens"),
    VerifierSpec("judge", _judge, "the same model asked whether each solution is correct (P(yes))"),
    VerifierSpec("llm-prm", _llm_prm,
                 "the same model asked whether each step is correct: a process verifier for search"),
    VerifierSpec("reference", _reference, "ORACLE: compares with the reference answer; for evaluation only",
                 request_safe=False),
)}
MODEL_VERIFIERS = ("prm:", "orm:")
"""Verifier names that carry a model: prm:PATH_OR_HF_ID (process), orm:PATH_OR_HF_ID (outcome)."""


def request_safe_verifiers() -> tuple[str, ...]:
    """Verifiers any server request may name (and "none")."""
    return ("none", *(v.name for v in VERIFIERS.values() if v.request_safe))


def verifier_help() -> str:
    return " | ".join(VERIFIERS) + " | prm:MODEL | orm:MODEL (or a plugin)"


def check_verifier_name(name: str | None) -> None:
    if name is None or name == "none" or name in VERIFIERS:
        return
    if isinstance(name, str) and name.startswith(MODEL_VERIFIERS) and len(name) > 4:
        return
    if name in plugin_names("ponder.verifiers"):
        return
    known = [*VERIFIERS, *plugin_names("ponder.verifiers")]
    raise ConfigError("verifier", name, f"unknown; choose from {', '.join(known)}, prm:MODEL, orm:MODEL")


def make_verifier(name: str | None, generator: Generator) -> Verifier | None:
    check_verifier_name(name)
    if name is None or name == "none":
        return None
    if name.startswith("prm:"):
        from ponder.verifiers.prm import TransformersPRM

        return TransformersPRM(name[4:])
    if name.startswith("orm:"):
        from ponder.verifiers.prm import ORM

        return ORM(name[4:])
    if name in VERIFIERS:
        return VERIFIERS[name].build(generator)
    plugin = _plugin("ponder.verifiers", name)
    assert plugin is not None  # check_verifier_name found it
    return plugin(generator)


# -- backends -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BackendSpec:
    name: str
    build: str
    """module:Class, imported only when the backend is built."""
    help: str
    model: str
    """What --model names for it."""
    needs_model: bool = False
    features: tuple[tuple[str, str], ...] = ()
    """What it can do, for the docs' capability matrix (`FEATURES` order); the instance's
    `capabilities` say the same at run time."""


FEATURES = ("N samples share the prompt", "top-k logprobs", "step search (continues a partial answer)",
            "DeepConf online (stops a trace mid-way)", "answer stop", "deadline and cancel", "GPU")

BACKENDS: Mapping[str, BackendSpec] = {b.name: b for b in (
    BackendSpec("llamacpp", "ponder.backends.llamacpp:LlamaCppGenerator",
                "the embedded llama.cpp (batched samples, shared prompt, answer stop, confidence stop)",
                "a packaged or distilled model name, or a GGUF path",
                features=tuple(zip(FEATURES, ("yes (one batch, one KV prefix)", "20", "yes", "yes", "yes", "yes",
                                              "CUDA build (scripts/llama-wheel.sh)")))),
    BackendSpec("transformers", "ponder.backends.transformers:TransformersGenerator",
                "Hugging Face transformers on CPU or GPU", "a Hugging Face id, checkpoint directory or distilled name",
                needs_model=True,
                features=tuple(zip(FEATURES, ("no (prompt repeated)", "20", "yes", "no", "no",
                                              "yes (between decoding steps)", "yes")))),
    BackendSpec("vllm", "ponder.backends.vllm:VLLMGenerator", "vLLM in-process (options: tensor_parallel_size, ...)",
                "a Hugging Face id, checkpoint directory or distilled name", needs_model=True,
                features=tuple(zip(FEATURES, ("yes (prefix caching)", "20", "yes", "yes", "no", "yes", "yes")))),
    BackendSpec("openai", "ponder.backends.openai_http:OpenAIGenerator",
                "any OpenAI-compatible server (options: base_url, api_key; several base URLs make a fleet)",
                "the server's model name",
                features=tuple(zip(FEATURES, ("the server's (n > 1 where it takes it)", "the server's",
                                              "with continue_final_message (vLLM, SGLang)", "with logprobs",
                                              "yes (streams, closes at the answer)", "yes", "the server's")))),
)}


def backend_help() -> str:
    return " | ".join(BACKENDS) + " (or a plugin)"


def backends_markdown() -> str:
    """The docs' backend capability matrix, from the declarations."""
    lines = ["| | " + " | ".join(f"`{b}`" for b in BACKENDS) + " |", "|---" * (len(BACKENDS) + 1) + "|"]
    for feature in FEATURES:
        cells = [dict(b.features).get(feature, "?") for b in BACKENDS.values()]
        lines.append(f"| {feature} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def make_generator(backend: str = "llamacpp", model: str | None = None, **options: Any) -> Generator:
    """The generator of `backend` (see `BACKENDS`) for `model`; options go to the backend (e.g.
    tensor_parallel_size for vllm; base_url, api_key for openai, a list of base URLs makes a fleet).
    An option the backend does not take is a ConfigError naming it."""
    from ponder.models import resolve_checkpoint

    spec = BACKENDS.get(backend)
    if spec is None:
        plugin = _plugin("ponder.backends", backend)
        if plugin is None:
            known = [*BACKENDS, *plugin_names("ponder.backends")]
            raise ConfigError("backend", backend, f"unknown; choose from {', '.join(known)}")
        _check_signature(plugin, f"the {backend} backend", options)
        return plugin(model, **options)
    if spec.needs_model and not model:
        raise ConfigError("model", model, f"the {backend} backend needs --model ({spec.model})")
    module, cls = spec.build.split(":")
    if backend == "openai":
        url = options.pop("base_url", None)
        if not url:
            raise ConfigError("base_url", url, "the openai backend needs a server URL")
        if isinstance(url, (list, tuple)) and len(url) > 1:
            module, cls = "ponder.backends.fleet", "FleetGenerator"
            factory = getattr(importlib.import_module(module), cls)
            _check_signature(factory, f"the {backend} backend", options)
            return factory(list(url), model=model, **options)
        factory = getattr(importlib.import_module(module), cls)
        _check_signature(factory, f"the {backend} backend", options)
        return factory(url[0] if isinstance(url, (list, tuple)) else url, model=model,
                       **options)
    factory = getattr(importlib.import_module(module), cls)
    _check_signature(factory, f"the {backend} backend", options)
    if spec.needs_model:
        assert model is not None
        model = resolve_checkpoint(model)
    return factory(model, **options)


def generator_for(strategy: Strategy, backend: str = "llamacpp", model: str | None = None,
                  **options: Any) -> Generator:
    """The engine's generator for `strategy`, and the generators of any other models it spans bound to
    it (`route`'s arms, all on the same backend and options). With no `model`, the strategy's own
    model if it names one (route: the table's probe model), else the backend's default."""
    gen = make_generator(backend, model or own_model(strategy), **options)
    extra = other_models(strategy)
    if extra and isinstance(strategy, SpansModels):
        strategy.bind({m: make_generator(backend, m, **options) for m in extra})
    return gen
