"""How a Problem becomes what the generator sees.

Instruct models get the question as a user message with an instruction to reason step by step and
box the final answer (the format `ponder.answers` extracts first); a problem that brings its own chat
messages is sent unchanged. Base models (no chat template) get a plain "Question/Answer" prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

from ponder.types import GenRequest, Message, Problem

MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


@dataclass(frozen=True, slots=True)
class Prompter:
    instruction: str = MATH_INSTRUCTION
    system: str | None = None
    raw: bool = False
    """Send the problem's prompt as raw text (no instruction, no chat template): /v1/completions."""

    def request_fields(self, problem: Problem, *, chat: bool) -> dict:
        """Keyword arguments (messages= or prompt=) for a GenRequest."""
        if problem.messages is not None:
            return {"messages": problem.messages}
        if self.raw:
            return {"prompt": problem.prompt}
        if not chat:
            return {"prompt": f"Question: {problem.prompt}\n{self.instruction}\nAnswer:"}
        content = f"{problem.prompt}\n\n{self.instruction}" if self.instruction else problem.prompt
        msgs = ((Message("system", self.system),) if self.system else ()) + (Message("user", content),)
        return {"messages": msgs}


def build_request(prompter: Prompter, problem: Problem, *, chat: bool, **kw) -> GenRequest:
    return GenRequest(**prompter.request_fields(problem, chat=chat), **kw)
