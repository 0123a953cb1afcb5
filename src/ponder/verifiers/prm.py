"""Process and outcome reward models loaded with transformers (a Hugging Face id or a local path).

Two common PRM formats, one interface (`score_steps`, plus `score` by aggregation):
- **step-tag causal LM** (Math-Shepherd, RLHFlow-style PRMs): the solution is written with a step
  tag after every step; at each tag position the model's next-token distribution is read and the
  step score is P(good) / (P(good) + P(bad)) for the configured good/bad tokens (`+`/`-` by default).
- **token classification / reward head** (Qwen2.5-Math-PRM-style): steps are joined with a
  separator token; at each separator the 2-class head's softmax gives P(correct) (class 1).
`ORM` scores whole solutions with a sequence-classification head (one logit → sigmoid).

torch and transformers are imported only when a model is loaded. `format="auto"` picks the format
from the checkpoint's architecture.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Any

from ponder.errors import ConfigError, ModelNotFoundError
from ponder.steps import DEFAULT_SEPARATOR, check_aggregation
from ponder.types import Candidate, Problem
from ponder.verifiers.base import OutcomeFromSteps, Scores, StepScores

FORMATS = ("auto", "step-tag", "token-class")


def _import_hf() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("reward models need torch and transformers: pip install ponder[hf]") from e
    return torch, transformers


def _check_source(model: str | os.PathLike) -> str:
    """A HF id, or a local checkpoint directory (one with config.json)."""
    s = str(model)
    if os.sep in s and not os.path.exists(s):
        raise ModelNotFoundError("model", s, "no such directory")
    if os.path.isfile(s):
        raise ModelNotFoundError("model", s, "is a file; a reward model is a checkpoint directory or a HF id")
    if os.path.isdir(s) and not os.path.isfile(os.path.join(s, "config.json")):
        raise ModelNotFoundError("model", s, "is not a Hugging Face checkpoint directory (no config.json)")
    return s


class TransformersPRM(OutcomeFromSteps):
    """model: HF id or local dir. format: auto | step-tag | token-class. step_tag: text written after
    each step (step-tag format). good_token / bad_token: the tokens whose probabilities score a step.
    step_separator: token joining steps (token-class format). device: cpu, cuda, …"""

    logprobs = None
    oracle = False

    def __init__(self, model: str | os.PathLike, *, format: str = "auto", step_tag: str = " ки",
                 good_token: str = "+", bad_token: str = "-", step_separator: str = "<extra_0>",
                 aggregate: str = "last", separator: str = DEFAULT_SEPARATOR, device: str = "cpu",
                 max_length: int = 4096) -> None:
        if format not in FORMATS:
            raise ConfigError("format", format, f"must be one of {', '.join(FORMATS)}")
        torch, tf = _import_hf()
        src = _check_source(model)
        self._torch = torch
        self.tokenizer = tf.AutoTokenizer.from_pretrained(src)
        config = tf.AutoConfig.from_pretrained(src)
        if format == "auto":
            archs = " ".join(config.architectures or [])
            format = "token-class" if "TokenClassification" in archs else "step-tag"
        self.format = format
        auto = tf.AutoModelForTokenClassification if format == "token-class" else tf.AutoModelForCausalLM
        self.model = auto.from_pretrained(src).to(device).eval()
        self.device, self.max_length = device, max_length
        self.aggregate, self.separator = check_aggregation(aggregate), separator
        self.name = f"prm:{src}"
        if format == "step-tag":
            self.step_tag = step_tag
            self.tag_id = self._single_token(step_tag, "step_tag")
            self.good_id = self._single_token(good_token, "good_token")
            self.bad_id = self._single_token(bad_token, "bad_token")
        else:
            self.step_sep = step_separator
            self.tag_id = self._single_token(step_separator, "step_separator")

    def _single_token(self, text: str, param: str) -> int:
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        if len(ids) != 1:
            # a leading space is often its own token: accept the last piece when the rest is space
            ids = [i for i in ids if self.tokenizer.decode([i]).strip()]
        if len(ids) != 1:
            raise ConfigError(param, text, f"must be a single token for this tokenizer (got {len(ids)})")
        return ids[0]

    def render(self, question: str, steps: Sequence[str]) -> str:
        """The exact text the model reads for a (partial) solution."""
        if self.format == "step-tag":
            return f"{question} " + "".join(f"{s.strip()}{self.step_tag}\n" for s in steps)
        return f"{question}{self.step_sep}" + "".join(f"{s.strip()}{self.step_sep}" for s in steps)

    def _score_one(self, question: str, steps: Sequence[str]) -> list[float]:
        torch = self._torch
        enc = self.tokenizer(self.render(question, steps), return_tensors="pt", truncation=True,
                             max_length=self.max_length).to(self.device)
        ids = enc["input_ids"][0]
        with torch.no_grad():
            logits = self.model(**enc).logits[0]
        positions = (ids == self.tag_id).nonzero().flatten().tolist()
        if self.format == "token-class":
            positions = positions[1:]  # the first separator closes the question
            probs = torch.softmax(logits[positions].float(), dim=-1)[:, 1]
        else:
            pair = logits[positions][:, [self.good_id, self.bad_id]].float()
            probs = torch.softmax(pair, dim=-1)[:, 0]
        vals = [float(p) for p in probs]
        if len(vals) < len(steps):
            what = "step_tag" if self.format == "step-tag" else "step_separator"
            raise ConfigError(what, self.tokenizer.decode([self.tag_id]),
                              f"found {len(vals)} step marks for {len(steps)} steps in the tokenized input "
                              f"(truncated at max_length={self.max_length}, or the mark is not one token here)")
        return vals[-len(steps):]

    async def score_steps(self, problem: Problem, solutions: Sequence[Sequence[str]], *,
                          last_only: bool = False) -> StepScores:
        def work() -> tuple[tuple[float, ...], ...]:
            out = []
            for steps in solutions:
                vals = self._score_one(problem.question, steps) if steps else []
                out.append(tuple(vals[-1:] if last_only else vals))
            return tuple(out)

        return StepScores(await asyncio.to_thread(work))


class ORM:
    """Outcome reward model: a sequence-classification checkpoint with one output; score = sigmoid."""

    logprobs = None
    oracle = False

    def __init__(self, model: str | os.PathLike, *, device: str = "cpu", max_length: int = 4096,
                 template: str = "{question}\n\n{solution}") -> None:
        torch, tf = _import_hf()
        src = _check_source(model)
        self._torch = torch
        self.tokenizer = tf.AutoTokenizer.from_pretrained(src)
        self.model = tf.AutoModelForSequenceClassification.from_pretrained(src).to(device).eval()
        self.device, self.max_length, self.template = device, max_length, template
        self.name = f"orm:{src}"

    def _score_one(self, question: str, solution: str) -> float:
        torch = self._torch
        enc = self.tokenizer(self.template.format(question=question, solution=solution), return_tensors="pt",
                             truncation=True, max_length=self.max_length).to(self.device)
        with torch.no_grad():
            logit = self.model(**enc).logits[0].float()
        return float(torch.sigmoid(logit[-1]))

    async def score(self, problem: Problem, candidates: Sequence[Candidate]) -> Scores:
        def work() -> tuple[float, ...]:
            return tuple(self._score_one(problem.question, c.text) for c in candidates)

        return Scores(await asyncio.to_thread(work))
