"""Reading OpenAI-format answers: finish reasons, logprobs and an upstream's thinking (reasoning_content).

Shared by the plain calls (`openai_http`) and the streamed ones (`openai_stream`), so neither module
reaches into the other.
"""

from __future__ import annotations

from typing import Any

from ponder.types import FinishReason, TokenLogprob


def finish_reason(reason: Any) -> FinishReason:
    return "length" if reason == "length" else "stop"


def chat_logprobs(lp: Any) -> tuple[TokenLogprob, ...] | None:
    content = lp.get("content") if isinstance(lp, dict) else None
    if not content:
        return None
    return tuple(TokenLogprob(t.get("token", ""), float(t.get("logprob", 0.0)),
                              tuple((a.get("token", ""), float(a.get("logprob", 0.0)))
                                    for a in t.get("top_logprobs") or ()))
                 for t in content)


def completion_logprobs(lp: Any) -> tuple[TokenLogprob, ...] | None:
    if not isinstance(lp, dict) or not lp.get("tokens"):
        return None
    tops = lp.get("top_logprobs") or [None] * len(lp["tokens"])
    return tuple(TokenLogprob(tok, float(v if v is not None else 0.0),
                              tuple(sorted(((k, float(x)) for k, x in (top or {}).items()),
                                           key=lambda kv: -kv[1])))
                 for tok, v, top in zip(lp["tokens"], lp.get("token_logprobs") or [], tops))


def choice_logprobs(choice: dict[str, Any], chat: bool) -> tuple[TokenLogprob, ...] | None:
    return chat_logprobs(choice.get("logprobs")) if chat else completion_logprobs(choice.get("logprobs"))


def reasoning_of(message: dict[str, Any]) -> str | None:
    """The thinking an upstream returned beside the answer: `reasoning_content` (vLLM's reasoning
    parsers, DeepSeek's API) or `reasoning` (newer vLLM), as text."""
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return None
