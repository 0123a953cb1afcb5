"""Thinking budgets (sequential scaling) for reasoning models with thinking tags, as in s1's budget
forcing (Muennighoff et al. 2025).

The model thinks inside `<think> … </think>`. Ponder prefills the opening tag and lets it think with
the closing tag as a stop string:
- if it reaches `budget` thinking tokens, the thinking is cut there and the closing tag is forced;
- if it closes its thinking before `min_thinking` tokens, the closing tag is dropped and a
  continuation cue ("Wait") is appended so it keeps thinking (at most `max_extensions` times);
then the answer is generated after the closed thinking. Works on any backend that can continue an
assistant prefix (llama.cpp; vLLM / SGLang servers). With n > 1, n independent thinking traces vote.
"""

from __future__ import annotations

from typing import Any

from ponder.answers import extract_answer
from ponder.backends.base import Generator
from ponder.errors import CapabilityError, ConfigError
from ponder.params import SamplingParams
from ponder.prompts import build_request
from ponder.strategies.base import RunContext, check_common, check_n, derive_seed, finish, generate, needs_sampling
from ponder.strategies.spec import Cost, Options, StrategySpec, opt
from ponder.strategies.vote import decide
from ponder.types import Candidate, GenOutput, Problem, Result
from ponder.verifiers.base import Verifier


class ThinkOptions(Options):
    budget: int = opt(1024, ge=1, count=True, help="thinking tokens before the closing tag is forced")
    min_thinking: int = opt(0, ge=0, help="thinking that ends sooner is extended with the cue")
    cue: str = opt("Wait", help="appended to extend thinking")
    max_extensions: int = opt(2, ge=0, count=True, help="extensions per trace at most")
    answer_tokens: int = opt(256, ge=1, count=True, help="tokens for the answer after thinking")
    start_tag: str = opt("<think>", help="opens the thinking")
    end_tag: str = opt("</think>", help="closes the thinking")


def think_cost(n: int, o: ThinkOptions, max_tokens: int) -> Cost:
    """Each trace: thinking within its budget (extensions included) in at most max_extensions + 1 calls,
    then one answer call."""
    return Cost(samples=n * (o.max_extensions + 2), tokens=n * (o.budget + o.answer_tokens))


class ThinkingBudget:
    name = "think"

    def __init__(self, n: int = 1, **options: Any) -> None:
        o = ThinkOptions.parse(options, who=f"strategy {self.name!r}")
        self.n = check_n(n)
        if o.min_thinking > o.budget:
            raise ConfigError("min_thinking", o.min_thinking, f"must be <= budget={o.budget}")
        self.budget, self.min_thinking, self.cue = o.budget, o.min_thinking, o.cue
        self.max_extensions, self.answer_tokens = o.max_extensions, o.answer_tokens
        self.start_tag, self.end_tag = o.start_tag, o.end_tag

    def check(self, generator: Generator, verifier: Verifier | None, params: SamplingParams) -> None:
        check_common(self.name, generator, verifier, needs_verifier=False)
        if not generator.capabilities.continuation:
            raise CapabilityError("generator", generator.name, "thinking budgets continue the model's own "
                                  "thinking, which this backend cannot (vLLM/SGLang: continue_final_message=True)")
        if params.greedy and self.n > 1:
            needs_sampling(self.name, params, "with n > 1 greedy samples are all identical")

    async def _call(self, problem: Problem, ctx: RunContext, prefix: str, max_tokens: int, stop: tuple[str, ...],
                    seed: int) -> GenOutput:
        grant = ctx.meter.grant(1, max_tokens, count_samples=False)
        params = ctx.params.merge(max_tokens=grant.max_tokens, stop=stop)
        req = build_request(ctx.prompter, problem, chat=ctx.generator.capabilities.chat, n=1, params=params,
                            prefix=prefix, seed=seed, deadline=ctx.meter.deadline)
        [resp] = await generate(ctx, [req], grant, prompt_events=False)
        return resp.outputs[0]

    async def _trace(self, problem: Problem, ctx: RunContext, k: int) -> Candidate:
        seed = derive_seed(ctx.seed, f"think{k}")
        opening = f"{self.start_tag}\n"
        thinking, used, extensions, call = "", 0, 0, 0
        while True:
            out = await self._call(problem, ctx, opening + thinking, self.budget - used, (self.end_tag,), seed + call)
            call += 1
            thinking += out.text
            used += out.completion_tokens or 0
            if out.finish_reason == "length" or used >= self.budget:
                ctx.event("think", trace=k, action="force_end", thinking_tokens=used)
                break
            if used < self.min_thinking and extensions < self.max_extensions:
                extensions += 1
                thinking = thinking.rstrip() + f"\n{self.cue}"
                ctx.event("think", trace=k, action="extend", thinking_tokens=used, cue=self.cue)
                continue
            ctx.event("think", trace=k, action="ended", thinking_tokens=used)
            break
        closed = f"{opening}{thinking.rstrip()}\n{self.end_tag}\n"
        ans = await self._call(problem, ctx, closed, self.answer_tokens, (), seed + call)
        text = closed + ans.text
        return Candidate(text=text, answer=extract_answer(ans.text) or extract_answer(thinking),
                         finish_reason=ans.finish_reason, tokens=used + (ans.completion_tokens or 0))

    async def run(self, problem: Problem, ctx: RunContext) -> Result:
        cands = [await self._trace(problem, ctx, k) for k in range(self.n)]
        if self.n == 1:
            return finish(ctx, self.name, problem, cands, cands[0].answer, 0)
        answer, chosen = await decide(cands, ctx, weighted=False)
        return finish(ctx, self.name, problem, cands, answer, chosen)



SPECS = (StrategySpec(name="think", build=ThinkingBudget, options=ThinkOptions,
                      summary="budget forcing for thinking models: cut or extend the thinking, then answer",
                      paper="Muennighoff et al. 2025 (s1)", n_means="thinking traces (voted when n > 1)",
                      default_n=1, needs="a model that thinks in <think> tags; a backend that continues a prefix",
                      cost=think_cost),)
