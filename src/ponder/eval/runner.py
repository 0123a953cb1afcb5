"""The log-first evaluation runner: run a strategy over a dataset once, at the largest N, and log
everything (every candidate with its answer, correctness, score and tokens; the trace; usage) to an
append-only JSONL file. Curves at smaller N, plots and reports are pure functions of that log.

Resumable: each record is written and fsync'ed as soon as its problem finishes; re-running the same
command skips (problem, seed) pairs already logged, drops a torn last line left by a crash, and never
duplicates a problem. A run directory remembers its settings (`run.json`) and refuses to mix in
records made with different ones. Problems whose backend calls failed are not logged (they go to
`errors.jsonl`) so a resume retries them.

Nothing good is ever deleted: a corrupt line in the middle of the log is skipped and reported, not
cut (only a torn *last* line, a write a crash interrupted, is removed on resume); a (problem, seed)
logged twice counts once (the first record) and is reported; a line that is valid JSON but not a
record is skipped and counted too (`ponder.eval.logfile`, the one reader). One run writes to a directory
at a time: `start` takes
an exclusive lock (`run.lock`, released when the process ends, however it ends).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from ponder.answers import equivalent, normalize
from ponder.engine import Engine
from ponder.errors import ConfigError
from ponder.eval.logfile import read_config, read_log

__all__ = ["RunDir", "grade", "read_log", "run_eval", "run_settings"]
from ponder.types import Problem, Result
from ponder.verifiers.base import Verifier

LOG = "log.jsonl"
CONFIG = "run.json"
ERRORS = "errors.jsonl"
# settings that must match for records to belong to the same run (seeds and limit may grow); a
# distilled model's file hash (`model_sha256`) must match too where both runs record it (older logs do not)
IDENTITY = ("dataset", "strategy", "n", "verifier", "model", "backend", "params", "budget", "instruction", "search")


def grade(problem: Problem, seed: int, result: Result) -> dict[str, Any]:
    """One log record: the result with every candidate graded against the reference."""
    ref = problem.answer
    verdict: dict[str | None, bool] = {}

    def ok(ans: str | None) -> bool | None:
        if ref is None:
            return None
        key = normalize(ans)
        if key not in verdict:
            verdict[key] = equivalent(ans, ref)
        return verdict[key]

    cands = [{**c.to_dict(), "correct": ok(c.answer)} for c in result.candidates]
    return {
        "problem_id": problem.id, "seed": seed, "question": problem.question, "reference": ref,
        "level": problem.meta.get("level"), "strategy": result.strategy, "answer": result.answer,
        "correct": ok(result.answer), "chosen": result.chosen, "candidates": cands,
        "usage": result.usage.to_dict(), "trace": list(result.trace),
    }


class RunDir:
    """A run's directory: settings, the append-only log and the error log."""

    def __init__(self, path: str | os.PathLike, *, shown_from: str | os.PathLike | None = None) -> None:
        self.path = Path(path)
        self.shown_from = shown_from
        """A folder messages name files relative to (the server never shows its own paths)."""
        self.issues: list[str] = []
        """What reading the log skipped or repaired, one line each (for the CLI to show)."""
        self._lock: Any = None

    @property
    def log_path(self) -> Path:
        return self.path / LOG

    def config(self) -> dict[str, Any]:
        return read_config(self.path / CONFIG, label=self.label(CONFIG))

    def records(self) -> list[dict[str, Any]]:
        self.issues = []
        return read_log(self.log_path, issues=self.issues, label=self.label(LOG))

    def label(self, name: str) -> str:
        """How messages name a file of this run: relative to `shown_from` when given (the server's runs
        folder), else the path as given."""
        if self.shown_from is not None:
            return str(Path(self.path.name) / name)
        return str(self.path / name)

    def _acquire(self) -> None:
        import fcntl

        f = (self.path / "run.lock").open("a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise ConfigError("out", str(self.path),
                              f"another ponder eval ({holder}) is writing to this run directory; "
                              "wait for it to finish or use another --out") from None
        f.truncate(0)
        f.write(f"pid {os.getpid()}")
        f.flush()
        self._lock = f

    def close(self) -> None:
        """Release the run's lock (the process ending releases it too)."""
        if self._lock is not None:
            with suppress(OSError):
                self._lock.close()
            self._lock = None

    def start(self, config: dict[str, Any]) -> list[dict[str, Any]]:
        """Create or reopen the run and lock it; returns the records already logged."""
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError("out", str(self.path), "is a file, not a run directory")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._acquire()
        except OSError as e:
            raise ConfigError("out", str(self.path), f"cannot be written ({e.strerror or e})") from e
        try:
            return self._start(config)
        except BaseException:
            self.close()
            raise

    def _start(self, config: dict[str, Any]) -> list[dict[str, Any]]:
        config = json.loads(json.dumps(config))  # compare as stored (tuples become lists)
        old = self.config()
        if old:
            diff = [k for k in IDENTITY if old.get(k) != config.get(k)]
            if diff:
                k = diff[0]
                raise ConfigError("out", str(self.path),
                                  f"holds a run with different settings ({k}: {old.get(k)!r} here, "
                                  f"{config.get(k)!r} now); use another --out")
            was, now = old.get("model_sha256"), config.get("model_sha256")
            if was and now and was != now:
                raise ConfigError("out", str(self.path),
                                  f"holds a run of another file under the model name {config.get('model')!r} "
                                  f"(SHA-256 {was[:12]}… here, {now[:12]}… now: a distilled name that later "
                                  "rounds moved on; its earlier round is NAME-rK); use another --out")
        merged = {**old, **config, "seeds": sorted(set(old.get("seeds", [])) | set(config.get("seeds", [])))}
        (self.path / CONFIG).write_text(json.dumps(merged, indent=2))
        self.issues = []
        return read_log(self.log_path, repair=True, issues=self.issues, label=self.label(LOG))

    def append(self, record: dict[str, Any], *, errors: bool = False) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with (self.path / (ERRORS if errors else LOG)).open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())


async def _score_missing(scorer: Verifier | None, problem: Problem, result: Result) -> Result:
    """Score candidates the strategy left unscored, so weighted and best-of-N curves can be drawn."""
    import dataclasses

    if scorer is None or not result.candidates or all(c.score is not None for c in result.candidates):
        return result
    scores = await scorer.score(problem, result.candidates)
    cands = tuple(dataclasses.replace(c, score=s) for c, s in zip(result.candidates, scores.values))
    trace = result.trace + ({"event": "score", "verifier": scorer.name, "scores": list(scores.values)},)
    return dataclasses.replace(result, candidates=cands, trace=trace, usage=result.usage + scores.usage)


def run_settings(engine: Engine, *, dataset: str, strategy: str, n: int, verifier: str | None, model: str | None,
                 backend: str, limit: int | None = None, search: dict[str, Any] | None = None,
                 model_sha256: str | None = None) -> dict[str, Any]:
    """A run's settings as `run.json` records them (`IDENTITY` decides which must match on resume;
    `model_sha256`, a distilled model's file, is recorded only when known)."""
    settings = {"dataset": dataset, "strategy": strategy, "n": n, "verifier": verifier, "model": model,
                "backend": backend, "params": engine.params.to_dict(), "budget": engine.budget.to_dict(),
                "instruction": engine.prompter.instruction, "limit": limit,
                "search": {k: v for k, v in (search or {}).items() if v is not None} or None}
    return {**settings, "model_sha256": model_sha256} if model_sha256 else settings


async def run_eval(engine: Engine, problems: Sequence[Problem], out: str | os.PathLike, *,
                   seeds: Sequence[int] = (0,), config: dict[str, Any] | None = None,
                   scorer: Verifier | None = None,
                   on_record: Callable[[dict[str, Any]], Any] | None = None) -> dict[str, Any]:
    """Run `engine` over problems × seeds, logging to `out`; skip what is already logged.
    Returns a summary (records, correct, errors, generated tokens, wall seconds)."""
    run = RunDir(out)
    done = {(r["problem_id"], r["seed"]) for r in run.start({**(config or {}), "seeds": list(seeds)})}
    try:
        return await _run(run, engine, problems, done, seeds, scorer, on_record)
    finally:
        run.close()


async def _run(run: RunDir, engine: Engine, problems: Sequence[Problem], done: set[tuple[Any, Any]],
               seeds: Sequence[int], scorer: Verifier | None,
               on_record: Callable[[dict[str, Any]], Any] | None) -> dict[str, Any]:
    summary: dict[str, Any] = {"skipped": len(done), "logged": 0, "errors": 0, "correct": 0, "tokens": 0,
                               "wall_s": 0.0, "log_issues": list(run.issues)}
    by_id = {p.id: p for p in problems}
    t0 = time.perf_counter()
    for seed in seeds:
        todo = [p for p in problems if (p.id, seed) not in done]
        if not todo:
            continue
        eng = engine.with_seed(seed)

        async def finish(result: Result, seed: int = seed) -> None:
            problem = by_id[result.problem_id]
            errors = [e for e in result.trace if e.get("event") == "error"]
            if errors:
                summary["errors"] += 1
                run.append({"problem_id": problem.id, "seed": seed, "error": errors[-1]}, errors=True)
                return
            result = await _score_missing(scorer, problem, result)
            rec = {**grade(problem, seed, result), "finished_at": round(time.time(), 3)}  # run's elapsed time
            run.append(rec)
            summary["logged"] += 1
            summary["correct"] += bool(rec["correct"])
            summary["tokens"] += rec["usage"]["completion_tokens"] or 0
            if on_record is not None:
                on_record(rec)

        await eng.arun(todo, on_result=finish)
    summary["wall_s"] = time.perf_counter() - t0
    return summary
