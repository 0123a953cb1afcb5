"""How much to think, the way OpenAI's API says it: `reasoning_effort` (chat) or `reasoning.effort`
(Responses), minimal | low | medium | high, each mapped to a compute budget ponder knows how to spend.

    minimal  greedy, one sample                 the model's own first answer
    low      vote over 4 samples                cheap self-consistency
    medium   auto, at most 8 samples            stops as soon as the answer is settled
    high     auto, at most 16 samples           the same rule, more room on hard questions

An operator changes a level with `ponder serve --effort high=vote:32` (strategy:N, options as
KEY=VALUE after that), `ponder ask --effort LEVEL` picks one for a question. A request that names its
strategy (a model-name prefix like `vote-8/`, or `ponder.strategy`) keeps it: effort is the default
for clients that only know OpenAI's words.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ponder.errors import ConfigError

LEVELS = ("minimal", "low", "medium", "high")


@dataclass(frozen=True)
class Effort:
    strategy: str
    n: int
    options: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        opts = "".join(f",{k}={json.dumps(v)}" for k, v in self.options.items())
        return f"{self.strategy}:{self.n}{opts}"


EFFORTS: Mapping[str, Effort] = {
    "minimal": Effort("greedy", 1),
    "low": Effort("vote", 4),
    "medium": Effort("auto", 8),
    "high": Effort("auto", 16),
}


def check_level(level: Any, param: str = "reasoning_effort") -> str:
    if level not in LEVELS:
        raise ConfigError(param, level, f"must be one of {', '.join(LEVELS)}")
    return str(level)


def parse_efforts(pairs: Sequence[str], base: Mapping[str, Effort] = EFFORTS) -> dict[str, Effort]:
    """`LEVEL=STRATEGY:N[,KEY=VALUE...]` overrides (`ponder serve --effort`) over `base`."""
    out = dict(base)
    for pair in pairs:
        level, sep, spec = pair.partition("=")
        if not sep:
            raise ConfigError("effort", pair, "expected LEVEL=STRATEGY:N, e.g. high=vote:32")
        check_level(level, "effort")
        head, *opts = spec.split(",")
        strategy, _, n = head.partition(":")
        if not strategy or not n.isdigit() or int(n) < 1:
            raise ConfigError("effort", pair, "expected LEVEL=STRATEGY:N with N >= 1, e.g. high=vote:32")
        options: dict[str, Any] = {}
        for kv in opts:
            key, eq, raw = kv.partition("=")
            if not eq:
                raise ConfigError("effort", pair, f"option {kv!r} is not KEY=VALUE")
            try:
                options[key] = json.loads(raw)
            except ValueError:
                options[key] = raw
        out[level] = Effort(strategy, int(n), options)
    return out
