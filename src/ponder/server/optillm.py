"""optillm-compatible names, so an optillm client can point at `ponder serve` unchanged.

optillm (the OpenAI-compatible optimising proxy) picks its approach from a model-name prefix
(`re2-gpt-4o-mini`) or from an `optillm_approach` field in the body. ponder accepts both for the
approaches it implements and maps each to its own strategy; any other approach, or optillm's
combinations (`a&b`, `a|b`), is a 400 that names the supported ones. What maps exactly and what differs
is in docs/guide/server.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ponder.server import errors


@dataclass(frozen=True)
class Approach:
    strategy: str
    n: int | None = None
    """Samples; None: the request's `ponder.n` or the server's default."""
    verifier: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    reread: bool = False


APPROACHES: dict[str, Approach] = {
    "none": Approach("vote", n=1),
    "self_consistency": Approach("vote"),
    "bon": Approach("best-of-n", verifier="judge"),
    "mcts": Approach("mcts"),
    "re2": Approach("vote", n=1, reread=True),
    "cot_reflection": Approach("revise", n=2, options={"mode": "critique", "select": "last"}),
}
"""optillm approach → what ponder runs for it."""


def _unsupported(value: str, param: str, approach: str) -> errors.APIError:
    return errors.APIError(400, f"{param}={value!r}: {approach!r} is not an optillm approach ponder supports "
                           f"(supported: {', '.join(APPROACHES)})", param=param, code="unsupported_approach")


def split_model(model: str, served: tuple[str, ...]) -> tuple[str, str] | None:
    """(approach, served model) when `model` is `APPROACH-SERVED`; None when it is not of that form.
    The approach need not be supported (the caller says so, naming the supported ones)."""
    for name in served:
        if model.endswith(f"-{name}") and len(model) > len(name) + 1:
            return model[: -len(name) - 1], name
    return None


def approach(model: str, served: tuple[str, ...], field_value: Any) -> Approach | None:
    """The optillm approach a request names (body field first, as optillm does), or None."""
    if field_value is not None:
        if not isinstance(field_value, str) or field_value not in APPROACHES:
            raise _unsupported(field_value, "optillm_approach", str(field_value))
        return APPROACHES[field_value]
    split = split_model(model, served)
    if split is None:
        return None
    name = split[0]
    if name not in APPROACHES:
        raise _unsupported(model, "model", name)
    return APPROACHES[name]
