"""Run-wide budgets shared by the questions of one run: `TokenPool` (generated tokens, for `policy`
and `auto`: `ponder eval --total-tokens`) and `FlopPool` (FLOPs, for `route`: `--total-flops`).

Both are explicit objects a front end makes per run and hands to the strategy (no global state).
Questions run concurrently, so a pool reserves before it spends: a grant or hold takes its share out
of the pool at once, and `settle` returns what the samples did not use. Checking, awaiting the
samples and only then spending let five concurrent questions each spend the same spare tokens (a
pool of 150 spent 240). Both keep back the first round (the probe) of every question not yet probed,
so a question that comes late still gets one.
"""

from __future__ import annotations

import math

from ponder.errors import ConfigError


class TokenPool:
    """A run-wide budget of generated tokens shared by the questions of one run (explicit, not global).

    It keeps back the first round (the probe) of every question that has not drawn it yet, so a
    question that comes late still gets one; the rest goes to whoever asks first."""

    def __init__(self, total: int, questions: int, *, spent: int = 0) -> None:
        """`questions`: those still to run; `spent`: tokens the run's earlier questions generated (a
        resumed run)."""
        if not isinstance(total, int) or total < 1:
            raise ConfigError("total_tokens", total, "must be an integer >= 1")
        self.total, self.left, self.unprobed = total, total - spent, questions

    def probed(self, tokens: int) -> None:
        """A question's first round is drawn: its tokens are spent and no longer kept back."""
        self.left -= tokens
        self.unprobed = max(0, self.unprobed - 1)

    def grant(self, per_sample: float, wanted: int, probe_cost: float) -> tuple[int, int]:
        """Extra samples one question may draw, and the tokens held for them: taken out of the pool
        now, so questions deciding while these samples are drawn cannot spend them too."""
        got = self.affordable(per_sample, wanted, probe_cost)
        held = math.ceil(got * per_sample)
        self.left -= held
        return got, held

    def settle(self, held: int, spent: int) -> None:
        """Return to the pool what a grant held but its samples did not use (or take the excess)."""
        self.left += held - spent

    def affordable(self, per_sample: float, wanted: int, probe_cost: float) -> int:
        """Extra samples one question may draw, keeping the probes of the questions not yet probed
        (those in flight included: their tokens are not spent yet) in reserve."""
        spare = self.left - probe_cost * self.unprobed
        return max(0, min(wanted, int(spare // max(per_sample, 1.0))))

class FlopPool:
    """A run-wide FLOP budget shared by the questions of one `route` run (explicit, not global).

    `mean_flops` alone plans for the fitting questions' mix of difficulty bins, so a batch with more
    hard questions than that mix spends more than its budget; the pool is what makes a batch budget
    hold. It keeps back a probe for every question not yet probed (priced like the probe just drawn),
    so a late question still gets one; an arm's extra FLOPs (its fitted cost beyond the probe) are
    held before its samples are drawn, so concurrent questions cannot spend the same spare FLOPs, and
    settled with what the samples really cost. Samples longer than fitted take the excess from what
    later questions may spend, so a run ends over budget by at most the last questions' excess."""

    def __init__(self, total: float, questions: int, *, spent: float = 0.0) -> None:
        """`questions`: those still to run; `spent`: FLOPs the run's earlier questions used (a resumed run)."""
        if isinstance(total, bool) or not isinstance(total, int | float) or not total > 0:
            raise ConfigError("total_flops", total, "must be a number > 0")
        if not isinstance(questions, int) or questions < 1:
            raise ConfigError("questions", questions, "must be an integer >= 1")
        self.total, self.left = float(total), float(total) - spent
        self.questions, self.unprobed = questions, questions

    @property
    def mean(self) -> float:
        """What is left per question not yet probed: the mean budget route plans the next question at
        (so a batch harder than the fitting mix spreads what is left over the rest of it, instead of
        its first questions taking it all)."""
        return max(self.left, 0.0) / max(self.unprobed, 1)

    def probed(self, flops: float) -> None:
        """A question's probe is drawn: its FLOPs are spent and no longer kept back."""
        self.left -= flops
        self.unprobed = max(0, self.unprobed - 1)

    def spare(self, probe_cost: float) -> float:
        """What one question may add to its probe, keeping `probe_cost` back for every question not yet
        probed (those in flight included: their FLOPs are not spent yet)."""
        return self.left - probe_cost * self.unprobed

    def hold(self, flops: float) -> None:
        self.left -= flops

    def settle(self, held: float, spent: float) -> None:
        """Return to the pool what a hold did not use (or take the excess)."""
        self.left += held - spent
