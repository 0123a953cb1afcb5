"""LLM-as-PRM: any generator scores each step of a solution (probability that the step is correct),
so step-level search works with the embedded model alone, no trained reward model needed.

Each step is judged in the context of the problem and the steps before it, with one yes/no verdict
(P(yes) from logprobs where the generator has them, else the share of sampled "yes" verdicts). All
the verdicts of a call go to the generator in one batched request list; their prompts share the
problem and earlier steps, which the llama.cpp backend evaluates once.
"""

from __future__ import annotations

from collections.abc import Sequence

from ponder.backends.base import Generator, raise_errors
from ponder.errors import ConfigError
from ponder.steps import DEFAULT_SEPARATOR, check_aggregation
from ponder.types import Problem
from ponder.usage import Usage
from ponder.verifiers.base import OutcomeFromSteps, StepScores
from ponder.verifiers.judge import verdict_request, yes_probability

DEFAULT_TEMPLATE = (
    "Problem:\n{question}\n\nSolution so far:\n{previous}\n\nNext step:\n{step}\n\n"
    "Is the next step correct and useful for solving the problem? Answer with a single word, Yes or No."
)


class LLMPRM(OutcomeFromSteps):
    """generator: the judging model. aggregate: last | min | prod | mean (for whole solutions)."""

    logprobs = None
    oracle = False

    def __init__(self, generator: Generator, *, aggregate: str = "last", separator: str = DEFAULT_SEPARATOR,
                 template: str = DEFAULT_TEMPLATE, votes: int = 3, seed: int = 0) -> None:
        for key in ("{question}", "{previous}", "{step}"):
            if key not in template:
                raise ConfigError("template", template, f"must contain {key}")
        self.generator, self.template, self.votes, self.seed = generator, template, votes, seed
        self.aggregate, self.separator = check_aggregation(aggregate), separator
        self._use_logprobs = generator.capabilities.logprobs and generator.capabilities.top_logprobs >= 5

    @property
    def name(self) -> str:
        return f"llm-prm:{self.generator.name}"

    @property
    def tokens_per_step(self) -> int:
        return 1 if self._use_logprobs else 3 * self.votes

    async def score_steps(self, problem: Problem, solutions: Sequence[Sequence[str]], *,
                          last_only: bool = False) -> StepScores:
        jobs: list[tuple[int, str]] = []  # (solution index, prompt)
        for i, steps in enumerate(solutions):
            first = len(steps) - 1 if last_only else 0
            for k in range(max(first, 0), len(steps)):
                prev = self.separator.join(steps[:k]) or "(nothing yet)"
                jobs.append((i, self.template.format(question=problem.question, previous=prev, step=steps[k])))
        if not jobs:
            return StepScores(tuple(() for _ in solutions), Usage())
        resps = await self.generator.generate(
            [verdict_request(t, use_logprobs=self._use_logprobs, votes=self.votes, seed=self.seed) for _, t in jobs])
        raise_errors(resps)
        out: list[list[float]] = [[] for _ in solutions]
        for (i, _), r in zip(jobs, resps):
            out[i].append(yes_probability(r, logprobs=self._use_logprobs))
        return StepScores(tuple(tuple(v) for v in out), sum((r.usage for r in resps), Usage()))
