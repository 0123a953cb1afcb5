"""Which samples a distilled model learns from: eval-log records → balanced training examples.

Three ways to decide that a sample is worth learning, one per `mode`:

- `verified` (rejection-sampling fine-tuning, STaR): samples whose answer matches the reference.
  Needs references; a log without them is refused rather than silently yielding nothing.
- `majority` (label-free self-training, as TTRL rewards the vote): samples that agree with the
  majority of all samples of their question, kept only when the vote is clear: the winner holds at
  least `min_agreement` of the answered samples and has more votes than the runner-up. A user's own
  unlabelled questions are enough.
- `teacher` (distillation from a stronger model or strategy): samples of another model's logs (the
  1.5B's vote, `route`, a search) whose answer is the answer that run chose; no references needed.

Every mode pools the records of a question across the logs given (several runs, seeds), drops
samples that cannot teach (no answer, cut at max_tokens, duplicates), prefers short samples and keeps
at most `per_question` of them, so easy questions with many right samples do not drown the rest.
Questions are split into training and validation sets by a seeded hash of their id, so a question's
samples never sit on both sides and the split does not depend on the order of the logs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ponder.answers import group_keys
from ponder.errors import ConfigError
from ponder.params import check_number
from ponder.prompts import MATH_INSTRUCTION

Record = dict[str, Any]
MODES = ("verified", "majority", "teacher")
MODE_HELP = {
    "verified": "samples whose answer matches the reference (rejection-sampling fine-tuning); needs references",
    "majority": "samples that agree with a clear majority of their question's samples; no labels needed",
    "teacher": "another model's or strategy's samples that agree with the answer its run chose",
}


@dataclass(frozen=True)
class Selection:
    """How examples are chosen from the logs (see the module docstring)."""

    mode: str = "verified"
    per_question: int = 2
    """At most this many examples per question (the shortest qualifying samples)."""
    min_agreement: float = 0.5
    """`majority`: the winner's share of the answered samples must be at least this."""
    val_fraction: float = 0.1
    """Share of the questions (with examples) held out for the validation loss."""
    seed: int = 0
    """Seeds the validation split."""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError("mode", self.mode, f"must be one of {', '.join(MODES)}")
        check_number("per_question", self.per_question, lo=1, integer=True)
        check_number("min_agreement", self.min_agreement, lo=0.0, hi=1.0)
        check_number("val_fraction", self.val_fraction, lo=0.0, hi=0.5)
        check_number("seed", self.seed, lo=0, integer=True)


@dataclass(frozen=True)
class Example:
    """One training example: a question (as the model is prompted with it) and a sample to learn."""

    problem_id: str
    question: str
    completion: str
    instruction: str = MATH_INSTRUCTION
    tokens: int | None = None
    source: str = ""
    """The log it came from."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Example:
        return cls(**{k: d[k] for k in ("problem_id", "question", "completion", "instruction", "tokens", "source")
                      if k in d})


@dataclass
class Report:
    """What a selection kept and why it left the rest out."""

    questions: int = 0
    train_questions: int = 0
    val_questions: int = 0
    train_examples: int = 0
    val_examples: int = 0
    left_out: Counter[str] = field(default_factory=Counter)
    """Questions without an example, by reason."""

    def to_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in asdict(self).items() if k != "left_out"}, "left_out": dict(self.left_out)}

    def summary(self) -> str:
        why = ", ".join(f"{n} {reason}" for reason, n in self.left_out.most_common())
        return (f"{self.train_examples} training examples from {self.train_questions} questions, "
                f"{self.val_examples} validation examples from {self.val_questions}; "
                f"{self.questions - self.train_questions - self.val_questions} of {self.questions} questions "
                f"left out" + (f" ({why})" if why else ""))


@dataclass
class _Sample:
    text: str
    answer: str | None
    tokens: int | None
    correct: bool | None
    chosen_answer: str | None
    finish_reason: str | None
    source: str
    instruction: str

    @property
    def usable(self) -> bool:
        """Whether it can teach: it states an answer and was not cut off at max_tokens."""
        return bool(self.text.strip()) and self.answer is not None and self.finish_reason != "length"


def _pool(runs: Sequence[tuple[str, Sequence[Record], dict[str, Any]]],
          mode: str) -> tuple[dict[str, list[_Sample]], dict[str, str]]:
    """Every sample of every question pooled across the logs (first-seen question order), and each
    question's text."""
    pooled: dict[str, list[_Sample]] = {}
    questions: dict[str, str] = {}
    for label, records, config in runs:
        instruction = config.get("instruction")
        instruction = MATH_INSTRUCTION if instruction is None else instruction
        if not records:
            raise ConfigError("run", label, "has no logged records to learn from")
        for rec in records:
            cands = rec.get("candidates")
            if not isinstance(cands, list) or not cands:
                raise ConfigError("run", label, f"record {rec.get('problem_id')!r} has no samples: distillation "
                                                "needs logs that keep their candidates (ponder eval)")
            if mode == "verified" and rec.get("reference") is None:
                raise ConfigError("mode", mode, f"needs reference answers, and {label} has none "
                                                f"(problem {rec.get('problem_id')!r}); use --mode majority")
            pid = str(rec["problem_id"])
            questions.setdefault(pid, rec.get("question") or "")
            pooled.setdefault(pid, []).extend(
                _Sample(text=c.get("text") or "", answer=c.get("answer"), tokens=c.get("tokens"),
                        correct=c.get("correct"), chosen_answer=rec.get("answer"),
                        finish_reason=c.get("finish_reason"), source=label,
                        instruction=instruction)
                for c in cands)
    for pid, q in questions.items():
        if not q.strip():
            raise ConfigError("run", pid, "a record has no question text")
    return pooled, questions


def _qualifying(samples: list[_Sample], sel: Selection) -> tuple[list[_Sample], str | None]:
    """The samples of one question that the mode keeps, or the reason there are none."""
    usable = [s for s in samples if s.usable]
    if sel.mode == "verified":
        keep = [s for s in usable if s.correct]
        return keep, None if keep else "with no right sample"
    if sel.mode == "majority":
        answered = [s for s in samples if s.answer is not None]
        keys = group_keys([s.answer for s in answered])
        votes = Counter(k for k in keys if k is not None)
        if not votes:
            return [], "with no answer"
        (winner, top), *rest = votes.most_common()
        runner_up = rest[0][1] if rest else 0
        if top == runner_up or top / len(answered) < sel.min_agreement:
            return [], "without a clear majority"
        keep = [s for s, k in zip(answered, keys) if k == winner and s.usable]
        return keep, None if keep else "whose majority samples were all cut off"
    # teacher: agree with the answer the teacher's run chose
    keep = []
    for s in usable:
        if s.chosen_answer is None:
            continue
        a, b = group_keys([s.answer, s.chosen_answer])
        if a is not None and a == b:
            keep.append(s)
    return keep, None if keep else "where no sample states the chosen answer"


def _in_validation(pid: str, sel: Selection) -> float:
    """A number in [0, 1) from the seed and the question id: below val_fraction → validation."""
    h = hashlib.sha256(f"{sel.seed}:{pid}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def select(runs: Sequence[tuple[str, Sequence[Record], dict[str, Any]]],
           sel: Selection) -> tuple[list[Example], list[Example], Report]:
    """Training and validation examples from `runs` (label, records, run.json settings) by `sel`."""
    pooled, questions = _pool(runs, sel.mode)
    report = Report(questions=len(pooled))
    chosen: dict[str, list[Example]] = {}
    for pid, samples in pooled.items():
        keep, why = _qualifying(samples, sel)
        if not keep:
            report.left_out[why or "with no sample"] += 1
            continue
        seen: set[str] = set()
        unique = []
        for s in sorted(keep, key=lambda s: (s.tokens if s.tokens is not None else len(s.text), s.text)):
            if s.text.strip() not in seen:
                seen.add(s.text.strip())
                unique.append(s)
        chosen[pid] = [Example(problem_id=pid, question=questions[pid], completion=s.text.strip(),
                               instruction=s.instruction, tokens=s.tokens, source=s.source)
                       for s in unique[: sel.per_question]]
    order = sorted(chosen, key=lambda p: _in_validation(p, sel))
    val_ids = {p for p in order if _in_validation(p, sel) < sel.val_fraction}
    if not val_ids and sel.val_fraction > 0 and len(order) >= 2:
        val_ids = {order[0]}  # a validation loss needs at least one question
    train = [e for p in chosen if p not in val_ids for e in chosen[p]]
    val = [e for p in chosen if p in val_ids for e in chosen[p]]
    report.train_questions, report.val_questions = len(chosen) - len(val_ids), len(val_ids)
    report.train_examples, report.val_examples = len(train), len(val)
    if not train:
        raise ConfigError("mode", sel.mode, f"selected no training examples: {report.summary()}")
    return train, val, report


def write_examples(path: str | os.PathLike, examples: Sequence[Example]) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n" for e in examples), encoding="utf-8")
    os.replace(tmp, p)


def read_examples(path: str | os.PathLike) -> list[Example]:
    with open(path, encoding="utf-8") as f:
        return [Example.from_dict(json.loads(line)) for line in f if line.strip()]
