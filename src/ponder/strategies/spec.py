"""What a strategy is, declared once, beside its code: `StrategySpec` and its typed `Options`.

A strategy module ends with `SPECS = (StrategySpec(...),)`: the name users type, the class, a frozen
options model (each option's type, bounds, default and help), capability flags and its cost bound.
Everything else is generated from that one declaration: the registry's names, the CLI's help, the
server's request schema for `ponder.options` and what a request may set, the docs' strategy table,
the default N and verifier, which options name files, and the work a request may cause (`cost`).

Options are pydantic models (frozen, strict, no unknown keys): a wrong type is named as a wrong type,
a number out of range with its bound, an unknown option with the known ones, and the message comes
from the declaration (`describe`), never from another exception's text.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

from ponder.errors import ConfigError


class Options(BaseModel):
    """A strategy's options: subclass with one field per option, each made with `opt(...)`."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False,
                              arbitrary_types_allowed=True)

    @classmethod
    def parse(cls, values: Mapping[str, Any], *, who: str) -> typing.Self:
        """The options from keyword values (None means the default), or the ConfigError naming the first
        option that is wrong and what it must be. `who` says whose options they are."""
        given = {k: v for k, v in values.items() if v is not None}
        try:
            return cls(**given)
        except ValidationError as e:
            raise option_error(cls, e, who, given) from None

    def given(self) -> dict[str, Any]:
        """The options set to something other than their default."""
        return {k: getattr(self, k) for k in self.model_fields_set}


class NoOptions(Options):
    """For strategies without options of their own."""


def opt(default: Any = ..., *, help: str, count: bool = False, file: str | None = None, missing: str | None = None,
        budget: bool = False, ge: float | None = None, gt: float | None = None, le: float | None = None,
        lt: float | None = None) -> Any:
    """An option: its default (`...`: required), help and bounds. `count`: it sets how many samples,
    steps or rounds run (so it can multiply the work: the cost bound reads it); `file`: it names a file
    of that kind, which only the operator may set on a server; `budget`: a limit on the work, which a
    server request may lower but never raise or remove; `missing`: what to say when a required option
    is not given."""
    extra: dict[str, Any] = {"count": count, "budget": budget}
    if file:
        extra["file"] = file
    if missing:
        extra["missing"] = missing
    return Field(default, description=help, json_schema_extra=extra, ge=ge, gt=gt, le=le, lt=lt)


def _extra(f: FieldInfo | None) -> dict[str, Any]:
    e = f.json_schema_extra if f is not None else None
    return dict(e) if isinstance(e, dict) else {}


def _nullable(f: FieldInfo | None) -> bool:
    return f is not None and type(None) in typing.get_args(f.annotation)


def _bounds(f: FieldInfo) -> str:
    lo = hi = ""
    for m in f.metadata:
        if isinstance(m, annotated_types.Ge):
            lo = f">= {_num(m.ge)}"
        elif isinstance(m, annotated_types.Gt):
            lo = f"> {_num(m.gt)}"
        elif isinstance(m, annotated_types.Le):
            hi = f"<= {_num(m.le)}"
        elif isinstance(m, annotated_types.Lt):
            hi = f"< {_num(m.lt)}"
    if lo and hi:
        left = "[" if lo.startswith(">=") else "("
        right = "]" if hi.startswith("<=") else ")"
        return f"in {left}{lo.split()[1]}, {hi.split()[1]}{right}"
    return lo or hi


def _num(x: Any) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)


def kind_of(f: FieldInfo) -> str:
    """What a value of this option must be, in words (from its type and bounds)."""
    ann = f.annotation
    union = typing.get_origin(ann) in (typing.Union, types.UnionType)
    args = [a for a in typing.get_args(ann) if a is not type(None)] if union else [ann]
    words = []
    for a in args:
        if typing.get_origin(a) is Literal:
            words.append("one of " + ", ".join(repr(v) for v in typing.get_args(a)))
        elif a is bool:
            words.append("true or false")
        elif a is int:
            words.append("an integer")
        elif a is float:
            words.append("a number")
        elif a is str:
            words.append("a file path" if _extra(f).get("file") else "a string")
    bounds = _bounds(f)
    text = " or ".join(dict.fromkeys(words)) or "a value of its own type"
    return f"{text} {bounds}".strip()


def describe(name: str, f: FieldInfo) -> str:
    """What `name` must be: "must be an integer >= 1", with null allowed where it is."""
    return f"must be {kind_of(f)}" + (" (or null for the default)" if _nullable(f) else "")


def option_error(cls: type[Options], e: ValidationError, who: str, given: Mapping[str, Any]) -> ConfigError:
    err = e.errors()[0]
    name = str(err["loc"][0]) if err["loc"] else "options"
    if err["type"] == "extra_forbidden":
        known = ", ".join(cls.model_fields) or "none"
        return ConfigError(name, given.get(name), f"is not an option of {who} (options: {known})")
    f = cls.model_fields.get(name)
    if f is None:  # a model-level check
        return ConfigError(name, given.get(name), str(err.get("ctx", {}).get("error", "is not valid")))
    if err["type"] == "missing":
        return ConfigError(name, None, _extra(f).get("missing") or f"{who} needs the option {name}")
    return ConfigError(name, given.get(name), describe(name, f))


def count_options(options: type[Options]) -> list[str]:
    return [k for k, f in options.model_fields.items() if _extra(f).get("count")]


def budget_options(options: type[Options]) -> list[str]:
    return [k for k, f in options.model_fields.items() if _extra(f).get("budget")]


def file_options(options: type[Options]) -> dict[str, str]:
    """Options that name a file, and the kind of file (stop-rule, policy, route-table)."""
    return {k: str(_extra(f)["file"]) for k, f in options.model_fields.items() if _extra(f).get("file")}


@dataclass(frozen=True)
class Cost:
    """An upper bound on the work of one question, known before it starts."""

    samples: int
    """Sequences drawn (full samples, or steps of a search), on every model the strategy uses."""
    tokens: int
    """Generated tokens, all sequences on all models together."""
    arm_tokens: int = 0
    """Of `tokens`, how many another model may generate (cascade's large model, route's arms): the
    FLOP bound prices them at the largest such model."""


def samples_cost(n: int, o: Any, max_tokens: int) -> Cost:
    """n samples of at most max_tokens each: vote, best-of-N, adaptive stopping."""
    return Cost(samples=n, tokens=n * max_tokens)


@dataclass(frozen=True)
class StrategySpec:
    """One strategy, declared once (see the module docstring)."""

    name: str
    build: Callable[..., Any]
    """The class (or factory), called as build(n, **options, **wiring)."""
    options: type[Options] | None = NoOptions
    """None: a plugin that declares no options (they go to `build` unchecked; no server takes it)."""
    summary: str = ""
    paper: str = ""
    n_means: str = "samples"
    """What N counts, for the docs and help."""
    default_n: int = 8
    fixed_n: int | None = None
    """The only N it takes (greedy: 1)."""
    greedy: bool = False
    """It decodes at temperature 0 (one deterministic sample): the server does not ask for sampling."""
    models: bool = False
    """It spans other models than the engine's own, which the front end loads and binds (route, cascade)."""
    pool: Literal["tokens", "flops"] | None = None
    """A run-wide budget it can draw on (`ponder eval --total-tokens` / `--total-flops`)."""
    server: bool = True
    """A request may name it; False: only as the operator's default (it needs what the operator sets up)."""
    verifier: str | None = None
    """The verifier it uses when none is named."""
    needs: str = ""
    """What it needs from the backend or the user, for the docs."""
    cost: Callable[[int, Any, int], Cost] = samples_cost
    """(n, options, max_tokens) → an upper bound on one question's work."""

    def parse(self, options: Mapping[str, Any]) -> Options | None:
        return None if self.options is None else self.options.parse(options, who=f"strategy {self.name!r}")

    def check_n(self, n: Any) -> int:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError("n", n, "must be an integer >= 1")
        if self.fixed_n is not None and n != self.fixed_n:
            raise ConfigError("n", n, f"{self.name} draws exactly {self.fixed_n} sample(s); use --strategy vote "
                                      f"for n > 1")
        return n

    def bound(self, n: int, options: Mapping[str, Any], max_tokens: int) -> Cost:
        """The cost bound of a question with these settings (options validated first)."""
        parsed = self.parse(options)
        if parsed is None:
            raise ConfigError("strategy", self.name, "declares no options (a plugin without a StrategySpec), so "
                                                     "its work cannot be bounded")
        return self.cost(self.check_n(n), parsed, max_tokens)

    def option_help(self) -> list[tuple[str, str, str]]:
        """(name, what it must be, help) per option."""
        if self.options is None:
            return []
        return [(k, kind_of(f) + ("; required" if f.is_required() else f"; default {f.default!r}"),
                 f.description or "") for k, f in self.options.model_fields.items()]

