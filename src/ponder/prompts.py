"""How a Problem becomes what the generator sees.

Instruct models get the question as a user message with an instruction to reason step by step and
box the final answer (the format `ponder.answers` extracts first); a problem that brings its own chat
messages is sent unchanged. Base models (no chat template) get a plain "Question/Answer" prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

from ponder.types import GenRequest, Message, Problem

MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


REVISE_INSTRUCTION = ("Review your solution above step by step. If you find a mistake, correct it; if it is "
                      "right, keep it. Write the complete corrected solution and put the final answer within "
                      "\\boxed{}.")
"""The turn that asks for a revision of the attempt(s) above it (Snell et al. 2024's revision setup)."""

CRITIQUE_INSTRUCTION = ("Check the solution above step by step. Point out any mistake in a few sentences, "
                        "or say that it is correct. Do not write a new solution.")
"""The turn that asks for a short critique (critique-then-revise)."""

REVISE_AFTER_CRITIQUE = ("Using your check, write the complete corrected solution and put the final answer "
                         "within \\boxed{}.")

REFLECT_CUE = "\n\nWait, let me check this solution again step by step.\n"
"""Appended after a thinking model's own attempt so it continues by checking it (as budget forcing's
"Wait"): the reflection variant of `revise`."""

REREAD = "\nRead the question again: "
"""RE2 (Xu et al. 2023): the question is repeated after this phrase."""


@dataclass(frozen=True, slots=True)
class Prompter:
    instruction: str = MATH_INSTRUCTION
    system: str | None = None
    raw: bool = False
    """Send the problem's prompt as raw text (no instruction, no chat template): /v1/completions."""
    reread: bool = False
    """RE2 (Xu et al. 2023): state the question twice ("Read the question again: ..."); in a chat, the
    last user message is the one repeated."""

    def _twice(self, text: str) -> str:
        return f"{text}{REREAD}{text}" if self.reread else text

    def request_fields(self, problem: Problem, *, chat: bool) -> dict:
        """Keyword arguments (messages= or prompt=) for a GenRequest."""
        if problem.messages is not None:
            msgs = problem.messages
            last = max((i for i, m in enumerate(msgs) if m.role == "user"), default=None)
            if self.reread and last is not None:
                msgs = (*msgs[:last], Message("user", self._twice(msgs[last].content)), *msgs[last + 1:])
            return {"messages": msgs}
        question = self._twice(problem.prompt or "")
        if self.raw:
            return {"prompt": question}
        if not chat:
            return {"prompt": f"Question: {question}\n{self.instruction}\nAnswer:"}
        content = f"{question}\n\n{self.instruction}" if self.instruction else question
        msgs = ((Message("system", self.system),) if self.system else ()) + (Message("user", content),)
        return {"messages": msgs}


def build_request(prompter: Prompter, problem: Problem, *, chat: bool, **kw) -> GenRequest:
    return GenRequest(**prompter.request_fields(problem, chat=chat), **kw)

