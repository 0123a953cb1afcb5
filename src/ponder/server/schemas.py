"""Request bodies of the OpenAI-compatible endpoints, plus ponder's own `ponder` field.

Unknown OpenAI fields are accepted and ignored (clients send many); ponder's options ride in the
`ponder` object, which the official client sends with `extra_body={"ponder": {...}}`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ponder.errors import ConfigError


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    samples: int | None = None
    tokens: int | None = None
    wall_s: float | None = None


class PonderOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    strategy: str | None = None
    n: int | None = None
    verifier: str | None = None
    budget: BudgetIn | None = None
    options: dict[str, str | int | float | bool | None] | None = None
    """The strategy's own options (e.g. {"batch": 2, "threshold": 0.9}), over the operator's."""
    return_trace: bool = False
    events: bool = False
    """With `stream: true`: chunks also carry the run's live events (`ponder.events`: sample text
    deltas, sample answers, votes, search tree nodes, usage), as the /ui page draws them."""


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: keep the text ones
            texts = [p.get("text") for p in self.content if p.get("type") == "text"]
            for t in texts:
                if not isinstance(t, str):
                    raise ConfigError("messages.content", t, "a text part's text must be a string")
            return "".join(t for t in texts if isinstance(t, str))
        return self.content or ""


class _Common(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    ponder: PonderOptions | None = Field(default=None)


class ChatRequest(_Common):
    messages: list[ChatMessageIn]


class CompletionRequest(_Common):
    prompt: str | list[str]
