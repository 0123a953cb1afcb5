"""Request bodies of the OpenAI-compatible endpoints, plus ponder's own `ponder` field.

Unknown OpenAI fields are accepted and ignored (clients send many); ponder's options ride in the
`ponder` object, which the official client sends with `extra_body={"ponder": {...}}`.
"""

from __future__ import annotations

from typing import Any, ClassVar

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
    effort_param: ClassVar[str] = "reasoning_effort"
    model: str
    reasoning_effort: str | None = None
    """OpenAI's minimal | low | medium | high (`ponder.effort` maps each to a strategy and N)."""
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


    def effort(self) -> str | None:
        return self.reasoning_effort

    def prompt_text(self) -> str:
        """The request's text (an upper bound, in bytes, on its prompt tokens)."""
        return ""


class ChatRequest(_Common):
    messages: list[ChatMessageIn]

    def prompt_text(self) -> str:
        return "".join(m.text() for m in self.messages)


class CompletionRequest(_Common):
    prompt: str | list[str]

    def prompt_text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else "".join(self.prompt)


class ReasoningIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    effort: str | None = None
    summary: str | None = None


class ResponsesRequest(_Common):
    """OpenAI's Responses API (`POST /v1/responses`): `input` (text, or a list of messages whose
    content is text or input_text parts), `instructions` (a system message), `max_output_tokens`,
    `reasoning.effort`; ponder's own options ride in `ponder` as on the chat endpoint."""

    effort_param: ClassVar[str] = "reasoning.effort"
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    max_output_tokens: int | None = None
    reasoning: ReasoningIn | None = None

    def effort(self) -> str | None:
        return self.reasoning.effort if self.reasoning is not None else self.reasoning_effort

    def messages(self) -> list[tuple[str, str]]:
        """(role, text) per message, `instructions` first as the system message."""
        out = [("system", self.instructions)] if self.instructions else []
        if isinstance(self.input, str):
            return [*out, ("user", self.input)]
        for i, item in enumerate(self.input):
            kind = item.get("type", "message")
            if kind != "message":
                raise ConfigError(f"input[{i}].type", kind, "only messages are taken (no tools or files)")
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise ConfigError(f"input[{i}].role", role, "must be user, assistant, system or developer")
            out.append(("system" if role == "developer" else role, _input_text(item.get("content"), i)))
        return out

    def prompt_text(self) -> str:
        return "".join(text for _, text in self.messages())


def _input_text(content: Any, i: int) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ConfigError(f"input[{i}].content", content, "must be text or a list of text parts")
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") not in ("input_text", "output_text", "text"):
            kind = part.get("type") if isinstance(part, dict) else part
            raise ConfigError(f"input[{i}].content", kind, "only text parts are taken (input_text)")
        if not isinstance(part.get("text"), str):
            raise ConfigError(f"input[{i}].content", part.get("text"), "a text part's text must be a string")
        texts.append(part["text"])
    return "".join(texts)
