"""Voting over final answers: majority vote (self-consistency, Wang et al. 2022) and weighted vote.

N samples are drawn in one batched call; their extracted answers are grouped (exact numeric
normalisation, then math-verify equivalence) and the group with the most votes (or the largest summed
verifier score) wins. Samples with no extractable answer do not vote. Ties break deterministically and
independently of sample order: more weight, then more votes, then the best single score, then the
smaller answer key. N = number of samples.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ponder.backends.base import Generator
from ponder.params import SamplingParams
from ponder.strategies.base import RunContext, check_common, check_n, finish, needs_sampling, sample, score
from ponder.strategies.spec import NoOptions, StrategySpec
from ponder.types import Candidate, Problem, Result
from ponder.verifiers.base import Verifier
from ponder.voting import Tally, answer_keys, tally, tally_keys

__all__ = ["MajorityVote", "Tally", "WeightedVote", "answer_keys", "decide", "tally", "tally_keys"]


async def decide(cands: Sequence[Candidate], ctx: RunContext, *, weighted: bool) -> tuple[str | None, int | None]:
    """The winning vote key and the chosen candidate (the winner's best-scored); records the vote."""
    keys = await asyncio.to_thread(answer_keys, cands)
    tallies = tally_keys(keys, [c.score for c in cands], weighted=weighted)
    ctx.event("vote", weighted=weighted,
              distribution={t.key: t.votes for t in tallies},
              weights={t.key: round(t.weight, 6) for t in tallies} if weighted else None,
              abstained=sum(k is None for k in keys),
              winner=tallies[0].key if tallies else None,
              tie=len(tallies) > 1 and tallies[0].weight == tallies[1].weight)
    if not tallies:
        return None, None
    win = tallies[0]
    chosen = max(win.members, key=lambda i: (cands[i].score or 0.0, -i))
    return win.key, chosen


class MajorityVote:
    """Self-consistency: the most common answer among n samples."""

    name = "vote"
    weighted = False

    def __init__(self, n: int = 8, **options: Any) -> None:
        self.n = check_n(n)
        NoOptions.parse(options, who=f"strategy {self.name!r}")

    def check(self, generator: Generator, verifier: Verifier | None, params: SamplingParams) -> None:
        check_common(self.name, generator, verifier, needs_verifier=self.weighted)
        if self.n > 1:
            needs_sampling(self.name, params, f"with n={self.n} greedy samples are all identical")

    async def run(self, problem: Problem, ctx: RunContext) -> Result:
        cands = await sample(problem, ctx, self.n)
        if self.weighted:
            cands = await score(problem, ctx, cands)
        answer, chosen = await decide(cands, ctx, weighted=self.weighted)
        return finish(ctx, self.name, problem, cands, answer, chosen)


class WeightedVote(MajorityVote):
    """Votes weighted by a verifier's scores (weighted best-of-N in the HF study)."""

    name = "weighted-vote"
    weighted = True


SPECS = (
    StrategySpec(name="vote", build=MajorityVote, summary="self-consistency: the most common final answer of N samples",
                 paper="Wang et al. 2022", n_means="samples"),
    StrategySpec(name="weighted-vote", build=WeightedVote,
                 summary="votes weighted by a verifier's scores (weighted best-of-N)", paper="Beeching et al. 2024",
                 n_means="samples", verifier="confidence", needs="a verifier (default: the samples' own confidence)"),
)
