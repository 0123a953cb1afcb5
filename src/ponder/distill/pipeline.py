"""`ponder distill`: rounds of sample → select → train → convert → register, resumable.

Round 1 learns from the eval logs given (or samples `dataset` with the base model first); each later
round samples `dataset` with the previous round's model and trains again (expert iteration). Every
round trains the *base* model on its round's data, as ReST-EM does, so errors do not compound through
a chain of fine-tunes. Each step leaves its output in the round's folder and is skipped when a rerun
finds it there: sampling resumes its eval log, training its last checkpoint.

    OUT/distill.json                 settings and, per round, what it selected, spent and scored
    OUT/round-K/samples/             the round's eval log (rounds ≥ 2, or round 1 without logs)
    OUT/round-K/data/                train.jsonl, val.jsonl, selection.json
    OUT/round-K/train/               checkpoints/, adapter/, merged/ (the checkpoint), train.json
    OUT/round-K/model.gguf           what llama.cpp serves; registered as NAME-rK and NAME
    OUT/round-K/eval/                held-out greedy accuracy after the round (with `eval_dataset`)
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ponder.distill.data import Selection, read_examples, select, write_examples
from ponder.distill.train import TrainConfig
from ponder.errors import ConfigError
from ponder.params import SamplingParams, check_number

Event = dict[str, Any]
Report = Callable[[Event], None]


@dataclass(frozen=True)
class Plan:
    """Everything one `ponder distill` does (the settings a rerun must match to resume)."""

    name: str
    out: str
    base: str
    """The student: a packaged or distilled model name, a GGUF path with a checkpoint beside it, or
    a Hugging Face checkpoint directory."""
    runs: tuple[str, ...] = ()
    dataset: str | None = None
    n: int = 8
    rounds: int = 1
    selection: Selection = field(default_factory=Selection)
    train: TrainConfig = field(default_factory=TrainConfig)
    quant: str = "q8_0"
    eval_dataset: str | None = None
    temperature: float = 0.7
    max_tokens: int = 512
    concurrency: int = 2

    def __post_init__(self) -> None:
        check_number("n", self.n, lo=1, integer=True)
        check_number("rounds", self.rounds, lo=1, integer=True)
        check_number("concurrency", self.concurrency, lo=1, integer=True)
        from ponder.distill.gguf import QUANTS

        if self.quant not in QUANTS:
            raise ConfigError("quant", self.quant, f"must be one of {', '.join(QUANTS)}")
        if not self.runs and not self.dataset:
            raise ConfigError("runs", [], "give eval logs to learn from, or --dataset to sample first")
        if self.rounds > 1 and not self.dataset:
            raise ConfigError("rounds", self.rounds, "later rounds sample again: give --dataset")
        if self.rounds > 1 and self.selection.mode == "teacher":
            raise ConfigError("rounds", self.rounds, "teacher mode learns from the teacher's logs once; iterate "
                                                     "with --mode verified or --mode majority")
        if self.selection.mode == "teacher" and not self.runs:
            raise ConfigError("mode", "teacher", "learns from another model's eval logs: give them as RUNS")

    def settings(self) -> dict[str, Any]:
        d = asdict(self)
        d["runs"] = [str(Path(r).resolve()) for r in self.runs]
        d.pop("out")
        d.pop("eval_dataset")  # evaluating more or less does not change the models
        return json.loads(json.dumps(d))


def check_base(base: str) -> str:
    """What kind of student `base` names (local, checkpoint, gguf), or a ConfigError; loads nothing."""
    from ponder.models import PACKAGED_MODELS, local_models

    local = local_models().get(base)
    if local is not None and local.checkpoint:
        return "local"
    p = Path(base).expanduser()
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise ConfigError("base", base, "is a directory without config.json (not a Hugging Face checkpoint)")
        return "checkpoint"
    if base not in PACKAGED_MODELS and not (p.is_file() and p.suffix == ".gguf"):
        raise ConfigError("base", base, "not a packaged or distilled model name, a GGUF file or a checkpoint directory")
    return "gguf"


def base_checkpoint(base: str, report: Report | None = None) -> str:
    """A Hugging Face checkpoint directory for the student `base`: a distilled model's merged
    checkpoint, a directory as given, or a packaged GGUF converted once into the cache (float32)."""
    from ponder.models import PACKAGED_MODELS, cache_dir, local_models

    kind = check_base(base)
    if kind == "local":
        return str(local_models()[base].checkpoint)
    if kind == "checkpoint":
        return str(Path(base).expanduser())
    from ponder.convert import convert_gguf
    from ponder.models import resolve_model, sha256_file

    gguf = resolve_model(base)
    key = PACKAGED_MODELS[base].sha256[:16] if base in PACKAGED_MODELS else sha256_file(gguf)[:16]
    target = cache_dir() / "hf" / f"{key}-float32"
    if not (target / "config.json").is_file():
        if report:
            report({"event": "stage", "text": f"converting {base} to a checkpoint for training (once)"})
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        convert_gguf(str(gguf), tmp)
        os.replace(tmp, target)
    return str(target)


def _serving_model(base: str) -> str:
    """What llama.cpp loads for the base: a packaged or distilled name, or a GGUF path."""
    p = Path(base).expanduser()
    if p.is_dir():
        ggufs = sorted(p.glob("*.gguf"))
        if not ggufs:
            raise ConfigError("base", base, "sampling needs a GGUF of the base (none in the directory); give "
                                            "eval logs instead, or a packaged model")
        return str(ggufs[0])
    return base


def sample(model: str, dataset: str, out: Path, *, n: int, params: SamplingParams, concurrency: int,
           report: Report | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`ponder eval -s vote -n N` of `model` over `dataset` into `out` (resumable); its records and
    settings."""
    from ponder.backends.batching import BatchingGenerator
    from ponder.engine import build_engine
    from ponder.eval.datasets import load_dataset
    from ponder.eval.runner import RunDir, run_eval, run_settings
    from ponder.models import local_sha256

    problems = load_dataset(dataset)
    run = RunDir(out)
    done = len(run.records())
    if done < len(problems):
        engine = build_engine("vote", n, model=model, params=params, concurrency=concurrency)
        loaded = engine.generator
        if concurrency > 1:
            engine = engine.with_generator(BatchingGenerator(loaded, window_s=0.05, max_requests=concurrency))
        config = run_settings(engine, dataset=dataset, strategy="vote", n=n, verifier=None,
                              model=_model_label(model, out), backend="llamacpp", model_sha256=local_sha256(model))
        state = {"done": done}

        def on_record(rec: dict[str, Any]) -> None:
            state["done"] += 1
            if report:
                report({"event": "sample", "done": state["done"], "total": len(problems),
                        "correct": rec.get("correct")})

        try:
            asyncio.run(run_eval(engine, problems, out, config=config, on_record=on_record))
        finally:
            close = getattr(loaded, "close", None)
            if callable(close):
                close()
    return run.records(), run.config()


def _read_run(path: str) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    from ponder.eval.runner import RunDir

    run = RunDir(path)
    if not run.path.is_dir():
        raise ConfigError("run", path, "no such run directory (ponder eval --out)")
    return run.path.name, run.records(), run.config()


def _flops(records: Sequence[dict[str, Any]]) -> float:
    return float(sum((r.get("usage") or {}).get("flops_estimate") or 0 for r in records))


def _sample_accuracy(records: Sequence[dict[str, Any]]) -> float | None:
    """Share of right samples (pass@1 at the sampling temperature), where references exist."""
    flags = [c.get("correct") for r in records for c in r.get("candidates") or () if r.get("reference") is not None]
    return sum(bool(f) for f in flags) / len(flags) if flags else None


def _evaluate(model: str, dataset: str, out: Path, max_tokens: int, report: Report | None) -> dict[str, Any]:
    """Greedy accuracy of `model` on a held-out `dataset`, logged in `out` (resumable)."""
    recs, _ = _greedy_eval(model, dataset, out, max_tokens, report)
    right = sum(bool(r.get("correct")) for r in recs)
    return {"dataset": dataset, "greedy_accuracy": right / len(recs) if recs else None, "questions": len(recs),
            "tokens_per_question": sum((r.get("usage") or {}).get("completion_tokens") or 0 for r in recs)
            / max(len(recs), 1)}


def _model_label(model: str, out: Path) -> str:
    """The model name a round's log records: the one it already records when it exists (a round's GGUF
    never changes, but its registered names do: a one-round NAME becomes NAME-r1 once --rounds grows),
    else the registered name of `model`'s file."""
    from ponder.models import packaged_name

    recorded = _read_json(out / "run.json")
    if isinstance(recorded, dict) and isinstance(recorded.get("model"), str):
        return recorded["model"]
    return packaged_name(model) or model


def _greedy_eval(model: str, dataset: str, out: Path, max_tokens: int,
                 report: Report | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from ponder.engine import build_engine
    from ponder.eval.datasets import load_dataset
    from ponder.eval.runner import RunDir, run_eval, run_settings
    from ponder.models import local_sha256

    problems = load_dataset(dataset)
    engine = build_engine("greedy", 1, model=model, params=SamplingParams(temperature=0.0, max_tokens=max_tokens),
                          concurrency=1)
    config = run_settings(engine, dataset=dataset, strategy="greedy", n=1, verifier=None,
                          model=_model_label(model, out), backend="llamacpp", model_sha256=local_sha256(model))
    state = {"done": 0}

    def on_record(rec: dict[str, Any]) -> None:
        state["done"] += 1
        if report:
            report({"event": "eval", "done": state["done"], "total": len(problems), "correct": rec.get("correct")})

    try:
        asyncio.run(run_eval(engine, problems, out, config=config, on_record=on_record))
    finally:
        close = getattr(engine.generator, "close", None)
        if callable(close):
            close()
    run = RunDir(out)
    return run.records(), run.config()


def blocking_change(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """The first setting whose change keeps a rerun from resuming an earlier distillation, or None.
    More rounds continue it (expert iteration picks up at the next round); how many questions are
    sampled at once changes no sample; and when round 1 learned from logs, the sampling settings of
    later rounds (the dataset, N, temperature, max_tokens) played no part yet and may be set now."""
    sampled_nothing = old.get("dataset") is None and bool(new.get("runs"))
    for key in new:
        if old.get(key) == new.get(key) or key in ("rounds", "concurrency"):
            continue
        if key in ("dataset", "n", "temperature", "max_tokens") and sampled_nothing:
            continue
        return key
    return None


def run(plan: Plan, report: Report | None = None) -> dict[str, Any]:
    """Carry out `plan` (resuming what an earlier call left); returns what `OUT/distill.json` holds."""
    from ponder.distill.gguf import to_gguf
    from ponder.distill.train import train_lora

    out = Path(plan.out)
    state_path = out / "distill.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    if state:
        done = max((r.get("round", 0) for r in state.get("rounds", [])), default=0)
        if plan.rounds < done:
            raise ConfigError("rounds", plan.rounds, f"{out} holds {done} rounds already; ask for {done} or more")
        old, new = state.get("settings") or {}, plan.settings()
        diff = blocking_change(old, new)
        if diff is not None:
            raise ConfigError("out", str(out), f"holds a distillation with other settings ({diff}: "
                                               f"{old.get(diff)!r} there, {new.get(diff)!r} now); use another --out")
    state = {"name": plan.name, "settings": plan.settings(), "rounds": state.get("rounds", [])}

    def save() -> None:  # only once the inputs proved usable: a refused plan leaves nothing behind
        state_path.write_text(json.dumps(state, indent=2))

    say = report or (lambda e: None)
    params = SamplingParams(temperature=plan.temperature, max_tokens=plan.max_tokens)
    check_base(plan.base)
    checkpoint: str | None = None
    previous: str | None = None  # the model that samples the next round
    for k in range(1, plan.rounds + 1):
        rdir = out / f"round-{k}"
        info: dict[str, Any] = {"round": k}
        if k == 1 and plan.runs:
            runs = [_read_run(r) for r in plan.runs]
        else:
            assert plan.dataset is not None
            previous = previous or _serving_model(plan.base)
            say({"event": "stage", "text": f"round {k}: sampling {plan.dataset} × {plan.n} with {previous}"})
            recs, cfg = sample(previous, plan.dataset, rdir / "samples", n=plan.n, params=params,
                               concurrency=plan.concurrency, report=report)
            runs = [(f"round-{k}/samples", recs, cfg)]
        info["sampled_from"] = [label for label, _, _ in runs]
        info["sample_accuracy"] = _sample_accuracy([r for _, recs, _ in runs for r in recs])
        info["sampling_flops"] = sum(_flops(recs) for _, recs, _ in runs)
        train_set, val_set, picked = select(runs, plan.selection)  # one validation split for every round
        out.mkdir(parents=True, exist_ok=True)
        save()
        write_examples(rdir / "data" / "train.jsonl", train_set)
        write_examples(rdir / "data" / "val.jsonl", val_set)
        (rdir / "data" / "selection.json").write_text(json.dumps(picked.to_dict(), indent=2))
        info["selection"] = picked.to_dict()
        say({"event": "stage", "text": f"round {k}: {picked.summary()}"})
        trained = _read_json(rdir / "train" / "train.json")
        if trained is None or not (rdir / "train" / "merged" / "config.json").is_file():
            checkpoint = checkpoint or base_checkpoint(plan.base, report)
            say({"event": "stage", "text": f"round {k}: training LoRA on {len(train_set)} examples"})
            res = train_lora(checkpoint, read_examples(rdir / "data" / "train.jsonl"),
                             read_examples(rdir / "data" / "val.jsonl"), rdir / "train", plan.train,
                             progress=report)
            trained = {"result": res.to_dict()}
        info["train"] = trained["result"]
        gguf = rdir / "model.gguf"
        if not gguf.is_file():
            say({"event": "stage", "text": f"round {k}: converting to GGUF ({plan.quant}) with llama.cpp's tools"})
            to_gguf(rdir / "train" / "merged", gguf, quant=plan.quant)
        names = [f"{plan.name}-r{k}", plan.name] if plan.rounds > 1 else [plan.name]
        info["model"] = names[0]
        info["gguf"] = str(gguf)
        _register(plan, k, names, rdir, info)  # usable before (and whether or not) it is evaluated
        if plan.eval_dataset:
            say({"event": "stage", "text": f"round {k}: greedy accuracy on {plan.eval_dataset}"})
            info["eval"] = _evaluate(str(gguf), plan.eval_dataset, rdir / "eval", plan.max_tokens, report)
            _register(plan, k, names, rdir, info)
        state["rounds"] = [r for r in state["rounds"] if r.get("round") != k] + [info]
        save()
        previous = str(gguf)
    return state


def _register(plan: Plan, k: int, names: list[str], rdir: Path, info: dict[str, Any]) -> None:
    """Register round k's model under each of `names`, its greedy accuracy in the description once
    `info` holds its evaluation (`ponder models` shows it)."""
    from ponder.models import LocalModel, register_local, sha256_file

    described = f"distilled from {plan.base} ({plan.selection.mode}, round {k} of {plan.rounds})"
    evaluated = info.get("eval")
    if evaluated and evaluated.get("greedy_accuracy") is not None:
        described += (f"; greedy {100 * evaluated['greedy_accuracy']:.1f}% on {evaluated['dataset']} "
                      f"({evaluated['questions']} questions)")
    sha = sha256_file(Path(info["gguf"]))
    for name in names:
        register_local(LocalModel(
            name=name, gguf=info["gguf"], checkpoint=str(rdir / "train" / "merged"), base=plan.base,
            description=described,
            meta={"out": str(Path(plan.out).resolve()), "round": k, "mode": plan.selection.mode,
                  "train_flops": info["train"]["flops"], "sampling_flops": info["sampling_flops"],
                  "eval": evaluated}, sha256=sha))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
