"""Does a verifier pick the right candidate? Rescore the first K samples of each question in a
self-consistency log (no new sampling) and compare best-of-K picks with one sample and the vote.

Written for issue 18's best-of-N workload, where ponder's LLM judge lost to one sample: it scores the
logged candidates with the logged `confidence` scores and, live on the embedded model, with the
`judge` verifier (P(yes) from a one-token verdict) and with an optillm-style 0–9 rating (the expected
digit from the first token's top logprobs, so ties cannot hide the ranking). The ranking column is
`ponder.eval.metrics.ranking`, as `ponder report` prints it: the share of (right, wrong) pairs of
candidates of the same question in which the right one scored higher (0.5 is chance).

    python bench/experiments/search-and-verifiers/judge_check.py \\
        bench/runs/heldout/q05-arith-s0-vote16.log.jsonl.gz --k 4
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import math
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from ponder.eval.metrics import ranking  # noqa: E402
from ponder.params import SamplingParams  # noqa: E402
from ponder.registry import make_generator  # noqa: E402
from ponder.types import Candidate, GenRequest, Message, Problem  # noqa: E402
from ponder.verifiers.judge import LLMJudge  # noqa: E402
from ponder.voting import PreparedRecord  # noqa: E402

RATE = ("Here is a problem and a proposed solution.\n\nProblem:\n{question}\n\nProposed solution:\n{solution}"
        "\n\nRate the proposed solution from 0 to 9, where 0 means certainly wrong and 9 certainly correct. "
        "Respond with only the digit.")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    args = ap.parse_args()
    opener = gzip.open if args.log.endswith(".gz") else open
    with opener(args.log, "rt") as f:
        recs = [json.loads(line) for line in f if line.strip()]
    gen = make_generator("llamacpp", args.model)
    judge = LLMJudge(gen)

    async def rate(question: str, texts: list[str]) -> list[float]:
        reqs = [GenRequest(messages=(Message("user", RATE.format(question=question, solution=t[-6000:])),), n=1,
                           params=SamplingParams(temperature=0.0, max_tokens=1, logprobs=20), seed=0) for t in texts]
        out = []
        for r in await gen.generate(reqs):
            top = r.outputs[0].logprobs[0].top if r.outputs[0].logprobs else ()
            mass = {int(t.strip()): math.exp(lp) for t, lp in top if t.strip().isdigit() and len(t.strip()) == 1}
            z = sum(mass.values())
            out.append(sum(d * p for d, p in mass.items()) / z if z else 4.5)
        return out

    right: Counter[str] = Counter()
    scored: dict[str, list[dict]] = defaultdict(list)  # scorer → records with its scores, for ranking()
    for r in recs:
        cands = r["candidates"][: args.k]
        ok = [bool(c["correct"]) for c in cands]
        first_k = list(range(len(cands)))
        right["one sample"] += ok[0]
        right["vote"] += PreparedRecord(r).vote_correct(first_k)  # ponder's vote: answers grouped by equivalence
        scores = {"confidence": [float(c["score"]) for c in cands]}
        if 0 < sum(ok) < len(ok):  # only here can a pick differ from any other
            problem = Problem(prompt=r["question"])
            judged = await judge.score(problem, [Candidate(text=c["text"], answer=c["answer"]) for c in cands])
            scores["judge"] = list(judged.values)
            scores["rating 0-9"] = await rate(r["question"], [c["text"] for c in cands])
            for name, s in scores.items():
                scored[name].append({"candidates": [{"score": x, "correct": o} for x, o in zip(s, ok)]})
        for name in ("confidence", "judge", "rating 0-9"):
            s = scores.get(name)
            right[f"best-of-{args.k}, {name}"] += ok[max(range(len(ok)), key=s.__getitem__)] if s else ok[0]
    print(f"{len(recs)} questions, first {args.k} samples each, {args.log}\n")
    print("| pick | right | ranking (right above wrong, same question) |\n|---|---|---|")
    for name, n in right.items():
        scorer = name.split(", ")[-1]
        auroc = ranking(scored[scorer])["auroc"] if scorer in scored else None
        a = "—" if auroc is None else f"{auroc:.2f}"
        print(f"| {name} | {n}/{len(recs)} | {a} |")


if __name__ == "__main__":
    asyncio.run(main())
