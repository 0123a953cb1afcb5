"""Names users type (CLI flags, server fields, recipes) → the objects they mean.

The tables are read-only mappings built once; constructing anything goes through the `make_*`
functions, which reject unknown names with an error that lists the known ones.

**Plugins.** A package adds strategies, verifiers or backends by declaring entry points; they are
looked up (and imported) only when a name is not a built-in one, so `ponder ask -s my-strategy`,
the server and eval runs can name them:

    [project.entry-points."ponder.strategies"]
    my-vote = "my_pkg.strategies:MyVote"        # called as MyVote(n, **options)
    [project.entry-points."ponder.verifiers"]
    my-judge = "my_pkg.verifiers:make_judge"    # called as make_judge(generator)
    [project.entry-points."ponder.backends"]
    my-server = "my_pkg.backends:MyGenerator"   # called as MyGenerator(model, **options)

Entry points, not a mutable table a decorator fills: nothing global changes at import time, and
what a name means is fixed by what is installed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from ponder.backends.base import Generator
from ponder.errors import ConfigError
from ponder.strategies.base import Strategy
from ponder.verifiers.base import Verifier


def _greedy(n: int) -> Strategy:
    from ponder.strategies.greedy import Greedy

    if n != 1:
        raise ConfigError("n", n, "greedy draws exactly one sample; use --strategy vote for n > 1")
    return Greedy()


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


def _check_options(factory: Callable[..., Any], what: str, options: dict[str, Any]) -> None:
    """Unknown options are a ConfigError naming them and the known ones (not a sniffed TypeError)."""
    import inspect

    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    params = list(sig.parameters.values())
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    known = [p.name for p in params[1:] if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for key in sorted(options):
        if key not in known:
            raise ConfigError(key, options[key], f"is not an option of {what} (options: {', '.join(known) or 'none'})")


def _lazy(module: str, cls: str) -> Callable[..., Strategy]:
    """A constructor that imports its strategy module only when a strategy is built."""
    def make(n: int, **options: Any) -> Strategy:
        import importlib

        path = module if "." in module else f"ponder.strategies.{module}"
        factory = getattr(importlib.import_module(path), cls)
        _check_options(factory, f"strategy {factory.name!r}", options)
        return factory(n, **options)
    return make


STRATEGIES: MappingProxyType[str, Callable[..., Strategy]] = MappingProxyType({
    "greedy": _greedy, "vote": _lazy("vote", "MajorityVote"), "weighted-vote": _lazy("vote", "WeightedVote"),
    "best-of-n": _lazy("best_of_n", "BestOfN"),
    "beam": _lazy("beam", "BeamSearch"), "dvts": _lazy("dvts", "DVTS"),
    "particle": _lazy("particle", "ParticleFilter"), "mcts": _lazy("mcts", "MCTS"),
    "adaptive-vote": _lazy("adaptive", "AdaptiveVote"), "deepconf": _lazy("adaptive", "DeepConf"),
    "think": _lazy("think", "ThinkingBudget"), "revise": _lazy("revise", "Revise"),
    "auto": _lazy("ponder.allocation.auto", "Auto"),
    "route": _lazy("ponder.allocation.route", "Route"),
    "cascade": _lazy("ponder.allocation.cascade", "Cascade"),
})
SEARCH = ("beam", "dvts", "particle", "mcts")
FILE_OPTIONS: MappingProxyType[str, dict[str, str]] = MappingProxyType({
    "auto": {"rule": "ponder.allocation.stopping:StopRule", "policy": "ponder.allocation.policy:Policy"},
    "route": {"table": "ponder.allocation.route:RouteTable"},
})
"""Strategy options that name a file, per strategy (auto's stop rule and policy, route's table). Front
ends read them once, where the operator set them (`load_file_options`); a server request may never set
them (`names_a_file`). adaptive-vote's `rule` is a name (beta, esc), not a file."""


def names_a_file(strategy: str, key: str) -> bool:
    """Whether option `key` of `strategy` names a file. A plugin's option is presumed to when a built-in
    strategy's option of that name does (its code is not ponder's to vouch for)."""
    if strategy in STRATEGIES:
        return key in FILE_OPTIONS.get(strategy, {})
    return any(key in opts for opts in FILE_OPTIONS.values())


def load_file_options(strategy: str, options: dict[str, Any]) -> dict[str, Any]:
    """`strategy`'s options with every file-naming value read into its object (so nothing is read per
    request)."""
    import importlib

    out = dict(options)
    for key, target in FILE_OPTIONS.get(strategy, {}).items():
        if isinstance(out.get(key), str):
            module, cls = target.split(":")
            out[key] = getattr(importlib.import_module(module), cls).load(out[key])
    return out


DEFAULT_VERIFIER = {"weighted-vote": "confidence", "best-of-n": "confidence",  # deepconf scores itself
                    **{s: "llm-prm" for s in SEARCH}}


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


VERIFIERS: MappingProxyType[str, Callable[[Generator], Verifier]] = MappingProxyType({
    "confidence": _confidence("lowest-group"),
    "confidence-mean": _confidence("mean"),
    "confidence-tail": _confidence("tail"),
    "judge": _judge,
    "llm-prm": _llm_prm,
    "reference": _reference,
})
VERIFIER_HELP = {
    "confidence": "DeepConf lowest group confidence from the samples' own logprobs (no extra calls)",
    "confidence-mean": "geometric-mean token probability of each sample",
    "confidence-tail": "mean token confidence over each sample's last tokens",
    "judge": "the same model asked whether each solution is correct (P(yes))",
    "llm-prm": "the same model asked whether each step is correct: a process verifier for search",
    "reference": "ORACLE: compares with the reference answer; for evaluation only",
}


def make_strategy(name: str, n: int = 1, **options: Any) -> Strategy:
    """options: search strategies take width, max_steps, step_tokens, aggregate, step_mode;
    adaptive-vote takes batch, rule, threshold, weighted; deepconf takes mode, keep, warmup, window;
    auto takes batch, rule, threshold, answer_stop, confidence, policy, lookahead (and a TokenPool as pool);
    route takes table, flops, mean_flops (and a FlopPool as pool); cascade takes large, probe, method;
    revise takes chains, window, select, mode, critique_tokens. A name that is not built in is looked
    up among installed plugins (entry-point group `ponder.strategies`)."""
    options = {k: v for k, v in options.items() if v is not None}
    factory = STRATEGIES.get(name)
    if factory is None:
        plugin = _plugin("ponder.strategies", name)
        if plugin is None:
            known = [*STRATEGIES, *plugin_names("ponder.strategies")]
            raise ConfigError("strategy", name, f"unknown; choose from {', '.join(known)}")
        _check_options(plugin, f"strategy {name!r}", options)
        factory = plugin
    try:
        return factory(n, **options)
    except TypeError as e:  # a factory whose signature could not be read
        key = sorted(options)[0] if options else "n"
        raise ConfigError(key, options.get(key, n), f"is not an option of strategy {name!r} ({e})") from e


def default_n(strategy: str) -> int:
    """N when the user gives none: 1 for the single-sample strategies (greedy, think), else 8."""
    return 1 if strategy in ("greedy", "think") else 8


def check_strategy_name(name: str) -> None:
    """A ConfigError listing the known strategies unless `name` is one (built in or a plugin)."""
    if name in STRATEGIES or name in plugin_names("ponder.strategies"):
        return
    known = [*STRATEGIES, *plugin_names("ponder.strategies")]
    raise ConfigError("strategy", name, f"unknown; choose from {', '.join(known)}")


MODEL_VERIFIERS = ("prm:", "orm:")
"""Verifier names that carry a model: prm:PATH_OR_HF_ID (process), orm:PATH_OR_HF_ID (outcome)."""


def check_verifier_name(name: str | None) -> None:
    if name is None or name == "none" or name in VERIFIERS:
        return
    if name.startswith(MODEL_VERIFIERS) and len(name) > 4:
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
        return VERIFIERS[name](generator)
    plugin = _plugin("ponder.verifiers", name)
    assert plugin is not None  # check_verifier_name found it
    return plugin(generator)


BACKENDS = ("llamacpp", "transformers", "vllm", "openai")


def make_generator(backend: str = "llamacpp", model: str | None = None, **options: Any) -> Generator:
    """backend: llamacpp (model: packaged name or GGUF path), transformers or vllm (model: HF id or
    checkpoint dir; options go to the backend, e.g. tensor_parallel_size for vllm) or openai (options:
    base_url, api_key; a list of base URLs makes a fleet with failover). An option the backend does
    not take is a ConfigError naming it."""
    try:
        return _make_generator(backend, model, options)
    except TypeError as e:
        bad = re.search(r"unexpected keyword argument '(\w+)'", str(e))
        if bad is None:
            raise
        key = bad.group(1)
        raise ConfigError(key, options.get(key), f"is not an option of the {backend} backend") from e


def generator_for(strategy: Strategy, backend: str = "llamacpp", model: str | None = None,
                  **options: Any) -> Generator:
    """The engine's generator for `strategy`, and the generators of any other models it spans bound to
    it (`route`'s arms, all on the same backend and options). With no `model`, the strategy's own
    `default_model` if it names one (route: the table's probe model), else the backend's default."""
    gen = make_generator(backend, model or getattr(strategy, "default_model", None), **options)
    extra = getattr(strategy, "models", ())
    bind = getattr(strategy, "bind", None)
    if extra and callable(bind):
        bind({m: make_generator(backend, m, **options) for m in extra})
    return gen


def _make_generator(backend: str, model: str | None, options: dict[str, Any]) -> Generator:
    from ponder.models import resolve_checkpoint

    if backend == "llamacpp":
        from ponder.backends.llamacpp import LlamaCppGenerator

        return LlamaCppGenerator(model, **options)
    if backend == "transformers":
        from ponder.backends.transformers import TransformersGenerator

        if not model:
            raise ConfigError("model", model, "the transformers backend needs --model (a HF id or a local dir)")
        return TransformersGenerator(resolve_checkpoint(model), **options)
    if backend == "vllm":
        from ponder.backends.vllm import VLLMGenerator

        if not model:
            raise ConfigError("model", model, "the vllm backend needs --model (a HF id or a local checkpoint dir)")
        return VLLMGenerator(resolve_checkpoint(model), **options)
    if backend == "openai":
        from ponder.backends.openai_http import OpenAIGenerator

        url = options.pop("base_url", None)
        if not url:
            raise ConfigError("base_url", url, "the openai backend needs a server URL")
        if isinstance(url, (list, tuple)):
            from ponder.backends.fleet import FleetGenerator

            return FleetGenerator(list(url), model=model, **options) if len(url) > 1 else \
                OpenAIGenerator(url[0], model=model, **options)
        return OpenAIGenerator(url, model=model, **options)
    plugin = _plugin("ponder.backends", backend)
    if plugin is not None:
        return plugin(model, **options)
    known = [*BACKENDS, *plugin_names("ponder.backends")]
    raise ConfigError("backend", backend, f"unknown; choose from {', '.join(known)}")
