"""A process reward model served over HTTP, e.g. vLLM's pooling API (`vllm serve MODEL --task reward`
with a STEP pooler at the step-separator token, as for Qwen2.5-Math-PRM).

For each (partial) solution it POSTs `{"model", "input"}` to `{base_url}/pooling`, the input being
the question and the steps joined by the separator token; the answer's `data[0].data` holds one entry
per step, either `[p_bad, p_good]` pairs or single probabilities. Retries and their trace events are
the same as the HTTP generator's (`ponder.backends.http`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx

from ponder.backends.http import RetryPolicy, post_json
from ponder.errors import ConfigError, FatalBackendError
from ponder.steps import DEFAULT_SEPARATOR, check_aggregation
from ponder.types import Problem
from ponder.usage import Usage
from ponder.verifiers.base import OutcomeFromSteps, StepScores


class HTTPPRM(OutcomeFromSteps):
    logprobs = None
    oracle = False

    def __init__(self, base_url: str, *, model: str, step_separator: str = "<extra_0>", path: str = "/pooling",
                 api_key: str | None = None, aggregate: str = "last", separator: str = DEFAULT_SEPARATOR,
                 policy: RetryPolicy | None = None, transport: httpx.AsyncBaseTransport | None = None) -> None:
        if not str(base_url).startswith(("http://", "https://")):
            raise ConfigError("base_url", base_url, "must be an http(s) URL")
        self.url = str(base_url).rstrip("/") + path
        self.model, self.step_sep = model, step_separator
        self.aggregate, self.separator = check_aggregation(aggregate), separator
        self.policy = policy or RetryPolicy()
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._transport = transport
        self.name = f"http-prm:{model}"
        self.events: list[dict[str, Any]] = []
        """Retries and failures of the last call, for the caller's trace."""

    def render(self, question: str, steps: Sequence[str]) -> str:
        return question + self.step_sep + "".join(s.strip() + self.step_sep for s in steps)

    @staticmethod
    def _values(data: dict[str, Any], n_steps: int) -> list[float]:
        try:
            rows = data["data"][0]["data"]
        except (KeyError, IndexError, TypeError) as e:
            raise FatalBackendError(f"unexpected pooling response: {str(data)[:200]}") from e
        vals = [float(r[-1]) if isinstance(r, list) else float(r) for r in rows]
        return vals[-n_steps:]

    async def score_steps(self, problem: Problem, solutions: Sequence[Sequence[str]], *,
                          last_only: bool = False) -> StepScores:
        events: list[dict[str, Any]] = []
        async with httpx.AsyncClient(headers=self._headers, transport=self._transport) as client:
            async def one(steps: Sequence[str]) -> tuple[float, ...]:
                if not steps:
                    return ()
                body = {"model": self.model, "input": self.render(problem.question, steps)}
                vals = self._values(await post_json(client, self.url, body, label="/pooling", policy=self.policy,
                                                    events=events), len(steps))
                return tuple(vals[-1:] if last_only else vals)

            values = await asyncio.gather(*(one(s) for s in solutions))
        self.events = events
        return StepScores(tuple(values), Usage(prompt_tokens=None, completion_tokens=0, calls=len(solutions),
                                               wall_s=None, flops_estimate=None))
