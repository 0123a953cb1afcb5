"""its_hub, driven by bench/experiments/peers/run.py: runs in .venv-peers, reads one JSON job per line on stdin,
writes one JSON result per line on stdout.

A job: {"id", "question", "method": "self_consistency" | "best_of_n", "n", "max_tokens",
"temperature", "endpoint", "model"}. self_consistency votes on the boxed answer (its_hub's
projection function is given the same extractor ponder's harness grades with: the final
`\\boxed{}`); best_of_n scores with its_hub's LLMJudge on the same model.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
import warnings

warnings.filterwarnings("ignore")

from its_hub.core.algorithms.bon import BestOfN  # noqa: E402
from its_hub.core.algorithms.self_consistency import SelfConsistency  # noqa: E402
from its_hub.core.lms.openai_lm import OpenAICompatibleLanguageModel  # noqa: E402

INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


def boxed(text: str) -> str:
    m = re.findall(r"\\boxed\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}", text or "")
    return m[-1].strip() if m else ""


async def run(job: dict) -> dict:
    lm = OpenAICompatibleLanguageModel(endpoint=job["endpoint"], api_key="none", model_name=job["model"],
                                       max_tokens=job["max_tokens"], temperature=job["temperature"])
    prompt = f"{job['question']}\n\n{INSTRUCTION}"
    t0 = time.perf_counter()
    if job["method"] == "self_consistency":
        alg = SelfConsistency(consistency_space_projection_func=boxed)
    else:
        from its_hub.core.reward_models.llm_judge import LLMJudge

        alg = BestOfN(LLMJudge(lm))
    out = await alg.ainfer(lm, prompt, budget=job["n"], return_response_only=True)
    text = out.get("content") if isinstance(out, dict) else str(out)
    return {"id": job["id"], "text": text or "", "wall_s": time.perf_counter() - t0}


def main() -> None:
    out = sys.stdout
    sys.stdout = sys.stderr  # its_hub and its dependencies print; only results go to the harness
    for line in sys.stdin:
        job = json.loads(line)
        try:
            res = asyncio.run(run(job))
        except Exception as e:  # reported, not fatal: the harness records the failure
            res = {"id": job["id"], "text": "", "error": f"{type(e).__name__}: {e}", "wall_s": None}
        print(json.dumps(res), file=out, flush=True)


if __name__ == "__main__":
    main()
