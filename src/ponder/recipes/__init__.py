"""Recipes: a small YAML file that names a whole setup (model, backend, strategy and its options,
verifier, sampling, budget), so a setup that works can be shared, versioned and rerun by name.

    ponder ask "..." --recipe qwen0.5b-adaptive        # a recipe shipped with ponder
    ponder eval -d gsm8k --recipe my-setup.yaml        # your own file
    ponder serve --recipe qwen0.5b-vote

A recipe fills in what the command line leaves unset: a flag given explicitly wins, and `--option`
/ `--backend-option` pairs are merged over the recipe's `options` / `backend_options` key by key.
Everything is validated when the file is read (unknown fields, strategy names and options, numbers),
with errors naming the field, before any model is loaded. The recipes shipped with ponder live
beside this module (`ponder recipes` lists them).

Fields (all optional but `strategy`):

    description: one line shown by `ponder recipes`
    model: qwen2.5-coder-0.5b        # packaged name, GGUF path, HF id or the upstream's model name
    backend: llamacpp                # llamacpp | transformers | vllm | openai
    base_url: http://host:8080/v1    # openai backend
    strategy: adaptive-vote
    n: 16
    verifier: confidence
    options: {batch: 2, threshold: 0.9}         # the strategy's options
    backend_options: {n_ctx: 8192}
    params: {temperature: 0.7, max_tokens: 512}
    budget: {tokens: 8000, wall_s: 60}
    seed: 0
    instruction: "Solve it briefly, then put the final answer within \\boxed{}."
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ponder.errors import ConfigError
from ponder.params import Budget, SamplingParams, check_number

if TYPE_CHECKING:
    from ponder.backends.base import Generator
    from ponder.engine import Engine

PARAMS = ("temperature", "max_tokens")
BUDGET = ("tokens", "wall_s")


@dataclass(frozen=True, slots=True)
class Recipe:
    strategy: str
    """Strategy name (built in or a plugin)."""
    n: int | None = None
    """Samples N (the strategy's default when unset)."""
    model: str | None = None
    """Packaged model name, GGUF path, Hugging Face id, or the upstream's model name."""
    backend: str | None = None
    """llamacpp | transformers | vllm | openai (the command's default when unset)."""
    base_url: str | None = None
    """The server URL, for the openai backend."""
    verifier: str | None = None
    """Verifier name (the strategy's default when unset)."""
    options: dict[str, Any] = field(default_factory=dict)
    """The strategy's options, as `--option KEY=VALUE` would give them."""
    backend_options: dict[str, Any] = field(default_factory=dict)
    """Backend options, as `--backend-option KEY=VALUE` would give them."""
    temperature: float | None = None
    max_tokens: int | None = None
    budget_tokens: int | None = None
    budget_seconds: float | None = None
    seed: int | None = None
    instruction: str | None = None
    """The instruction sent after each question (ponder's default asks for step-by-step reasoning and
    a boxed answer)."""
    description: str = ""
    source: str = ""
    """Where the recipe was read from."""

    def flags(self) -> dict[str, Any]:
        """The command-line parameters this recipe sets (names as the commands spell them)."""
        names = ("strategy", "n", "model", "backend", "base_url", "verifier", "temperature", "max_tokens",
                 "budget_tokens", "budget_seconds", "seed", "instruction")
        return {k: getattr(self, k) for k in names if getattr(self, k) is not None}

    def engine(self, generator: Generator | None = None) -> Engine:
        """An Engine set up as the recipe says, for Python users (the CLI applies a recipe through its
        flags instead). `generator`: one already loaded (the recipe's model and backend are then unused)."""
        from ponder.engine import build_engine

        params = SamplingParams(**{k: v for k in PARAMS if (v := getattr(self, k)) is not None})
        return build_engine(self.strategy, self.n, options=self.options, verifier=self.verifier, generator=generator,
                            backend=self.backend or "llamacpp", model=self.model,
                            backend_options={**({"base_url": self.base_url} if self.base_url else {}),
                                             **self.backend_options},
                            params=params, budget=Budget(tokens=self.budget_tokens, wall_s=self.budget_seconds),
                            seed=self.seed or 0, instruction=self.instruction)


def shipped() -> dict[str, Path]:
    """The recipes that come with ponder: name → file."""
    root = resources.files(__name__)
    return {Path(p.name).stem: Path(str(p)) for p in root.iterdir() if p.name.endswith((".yaml", ".yml"))}


def _mapping(where: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ConfigError(where, value, "must be a mapping of names to values")
    return dict(value)


def parse_recipe(data: Any, source: str = "<recipe>") -> Recipe:
    """A validated Recipe from parsed YAML (a mapping). Strategy options are checked by building the
    strategy, so a misspelt option or a bad value fails here, naming it; options that name a file
    (a policy, a stop rule, a route table) are read to do that, so a missing file fails here too."""
    from ponder.registry import check_verifier_name, default_n, load_file_options, make_strategy

    if not isinstance(data, dict):
        raise ConfigError("recipe", source, "must be a YAML mapping of fields (strategy: ..., n: ...)")
    known = {f.name for f in fields(Recipe)} - {"source", "temperature", "max_tokens", "budget_tokens",
                                                "budget_seconds"} | {"params", "budget"}
    for key in data:
        if key not in known:
            raise ConfigError(f"recipe field {key!r}", data[key], f"unknown; known fields: {', '.join(sorted(known))}")
    if not isinstance(data.get("strategy"), str):
        raise ConfigError("strategy", data.get("strategy"), f"{source} must name a strategy")
    for key in ("model", "backend", "base_url", "verifier", "description", "instruction"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ConfigError(key, data[key], "must be a string")
    params, budget = _mapping("params", data.get("params")), _mapping("budget", data.get("budget"))
    for key in params:
        if key not in PARAMS:
            raise ConfigError(f"params.{key}", params[key], f"unknown; recipes set {', '.join(PARAMS)}")
    for key in budget:
        if key not in BUDGET:
            raise ConfigError(f"budget.{key}", budget[key], f"unknown; recipes set {', '.join(BUDGET)}")
    SamplingParams(**params)  # validates, naming the field
    Budget(**budget)
    n, seed = data.get("n"), data.get("seed")
    if n is not None:
        check_number("n", n, lo=1, integer=True)
    if seed is not None:
        check_number("seed", seed, lo=0, integer=True)
    options = _mapping("options", data.get("options"))
    make_strategy(data["strategy"], n or default_n(data["strategy"]), **load_file_options(data["strategy"], options))
    check_verifier_name(data.get("verifier"))
    return Recipe(strategy=data["strategy"], n=n, model=data.get("model"), backend=data.get("backend"),
                  base_url=data.get("base_url"), verifier=data.get("verifier"), options=options,
                  backend_options=_mapping("backend_options", data.get("backend_options")),
                  temperature=params.get("temperature"), max_tokens=params.get("max_tokens"),
                  budget_tokens=budget.get("tokens"), budget_seconds=budget.get("wall_s"), seed=seed,
                  instruction=data.get("instruction"),
                  description=data.get("description") or "", source=source)


def load_recipe(name_or_path: str) -> Recipe:
    """A recipe file, or the name of one shipped with ponder (read boundedly: `ponder.files`)."""
    from ponder.files import load_yaml, read_text

    path = Path(name_or_path)
    if not path.exists():
        found = shipped().get(name_or_path)
        if found is None:
            raise ConfigError("recipe", name_or_path,
                              f"no such file, nor a shipped recipe ({', '.join(sorted(shipped()))})")
        path = found
    text = read_text(path, param="recipe", what="recipe", max_bytes=1 << 20)
    return parse_recipe(load_yaml(text, param="recipe", where=name_or_path), str(path))
