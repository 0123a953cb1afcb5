"""LoRA fine-tuning on selected examples, with transformers' `Trainer` and peft, then merged.

Why these libraries: `Trainer` already does what a resumable run needs (checkpoints with optimizer,
scheduler and RNG states, `resume_from_checkpoint`, evaluation, gradient accumulation, CPU or GPU),
and peft's LoRA trains ~1% of the weights, so a 0.5B model fine-tunes on two CPU cores in hours. What
is ponder's own here is small: prompts built exactly as inference builds them (`Prompter` and the
model's chat template, so the model learns the turn it will see), the loss on the completion only,
the FLOP count, and keeping the process's global RNGs as they were (`Trainer` seeds them globally).

FLOPs are counted, not measured: with LoRA the backward pass computes gradients of the activations
through every layer (≈ the forward's 2·N per token) but of the weights only for the adapters, so a
training token costs ≈ 4·N + 2·N_lora, and an evaluated token 2·N (N: the model's parameters).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ponder.distill.data import Example
from ponder.errors import ConfigError
from ponder.params import check_number
from ponder.prompts import Prompter
from ponder.types import Problem

ProgressFn = Callable[[dict[str, Any]], None]
"""Sees {"step", "steps", "epoch", "loss"?, "eval_loss"?} as training goes."""


@dataclass(frozen=True)
class TrainConfig:
    """LoRA fine-tuning settings. The defaults suit a few hundred examples on a 0.5B model."""

    epochs: float = 2.0
    learning_rate: float = 2e-4
    lora_r: int = 16
    lora_alpha: int = 32
    batch_size: int = 4
    grad_accum: int = 2
    """Examples per optimizer step = batch_size × grad_accum."""
    max_length: int = 1024
    """Examples longer than this (prompt + completion, in tokens) are left out, not cut."""
    warmup: float = 0.05
    """Share of the steps with a linear learning-rate warm-up."""
    seed: int = 0
    save_steps: int = 10
    """A resumable checkpoint every this many optimizer steps (and at the end)."""
    device: str | None = None
    """cuda or cpu; None picks cuda when there is one."""

    def __post_init__(self) -> None:
        check_number("epochs", self.epochs, lo=0.0, lo_open=True)
        check_number("learning_rate", self.learning_rate, lo=0.0, lo_open=True, hi=1.0)
        for name in ("lora_r", "lora_alpha", "batch_size", "grad_accum", "save_steps"):
            check_number(name, getattr(self, name), lo=1, integer=True)
        check_number("max_length", self.max_length, lo=16, integer=True)
        check_number("warmup", self.warmup, lo=0.0, hi=0.5)
        check_number("seed", self.seed, lo=0, integer=True)
        if self.device not in (None, "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise ConfigError("device", self.device, "must be cpu or cuda")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]

    @property
    def completion_tokens(self) -> int:
        return sum(t != -100 for t in self.labels)


def prompt_and_completion(tokenizer: Any, ex: Example) -> tuple[str, str]:
    """The text the model is prompted with (as `Prompter` and the chat template build it at inference)
    and the text it should continue with, end-of-turn included."""
    chat = bool(getattr(tokenizer, "chat_template", None))
    fields = Prompter(instruction=ex.instruction).request_fields(Problem(prompt=ex.question), chat=chat)
    if not chat:
        return fields["prompt"], " " + ex.completion + (tokenizer.eos_token or "")
    msgs = [{"role": m.role, "content": m.content} for m in fields["messages"]]
    prompt = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template([*msgs, {"role": "assistant", "content": ex.completion}], tokenize=False)
    if not full.startswith(prompt):  # a template that rewrites earlier turns once an answer follows
        raise ConfigError("model", getattr(tokenizer, "name_or_path", "?"),
                          "its chat template does not render the prompt as a prefix of prompt + answer")
    return prompt, full[len(prompt):]


def encode(tokenizer: Any, ex: Example, max_length: int) -> Encoded | None:
    """Token ids with the loss on the completion only; None when longer than max_length. The prompt
    is tokenized on its own, as the inference backend tokenizes it before generating."""
    prompt, completion = prompt_and_completion(tokenizer, ex)
    chat = bool(getattr(tokenizer, "chat_template", None))
    p = tokenizer(prompt, add_special_tokens=not chat)["input_ids"]
    c = tokenizer(completion, add_special_tokens=False)["input_ids"]
    if len(p) + len(c) > max_length or not c:
        return None
    return Encoded(input_ids=list(p) + list(c), labels=[-100] * len(p) + list(c))


@contextlib.contextmanager
def _own_rngs() -> Iterator[None]:
    """Trainer seeds Python's, NumPy's and torch's global generators; put them back afterwards, so a
    library call leaves the process as it found it."""
    import numpy as np
    import torch

    py, npy = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []):
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(npy)


@contextlib.contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    """transformers' save progress bar off for the call, then as it was."""
    from transformers.utils import logging as tf_logging

    was = tf_logging.is_progress_bar_enabled()
    tf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            tf_logging.enable_progress_bar()


def _last_checkpoint(out: Path) -> str | None:
    ckpts = sorted((p for p in out.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()),
                   key=lambda p: int(p.name.split("-")[-1]))
    return str(ckpts[-1]) if ckpts else None


@dataclass
class TrainResult:
    adapter: str
    merged: str
    steps: int
    train_tokens: int
    """Tokens the model was trained on (all epochs, padding excluded)."""
    completion_tokens: int
    """Of which the loss was computed on (the completions)."""
    val_loss_before: float | None
    val_loss_after: float | None
    train_loss: float | None
    flops: float
    n_params: int
    n_trainable: int
    dropped: int
    """Examples left out for exceeding max_length."""
    wall_s: float
    resumed_from: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_lora(base: str | os.PathLike, train: Sequence[Example], val: Sequence[Example], out: str | os.PathLike,
               config: TrainConfig | None = None, *, progress: ProgressFn | None = None,
               merged_dtype: str = "float32") -> TrainResult:
    """Fine-tune the checkpoint `base` (a Hugging Face directory) with LoRA on `train`, report the loss
    on `val` before and after, and write `out/adapter` and the merged model `out/merged` (in
    `merged_dtype`: float32 by default, since rounding to 16 bits can erase small adapter updates).
    Checkpoints go to `out/checkpoints`; a second call with the same arguments resumes from the last."""
    import time

    import torch
    import transformers as tf
    from peft import LoraConfig, get_peft_model

    cfg = config or TrainConfig()
    out = Path(out)
    if not train:
        raise ConfigError("train", 0, "no training examples")
    if not hasattr(torch, merged_dtype):
        raise ConfigError("merged_dtype", merged_dtype, "not a torch dtype (float32, bfloat16, float16)")
    device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
    t0 = time.perf_counter()
    tok = tf.AutoTokenizer.from_pretrained(str(base))
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    enc_train = [e for e in (encode(tok, x, cfg.max_length) for x in train) if e is not None]
    enc_val = [e for e in (encode(tok, x, cfg.max_length) for x in val) if e is not None]
    dropped = len(train) + len(val) - len(enc_train) - len(enc_val)
    if not enc_train:
        raise ConfigError("max_length", cfg.max_length, "every training example is longer than this")
    dtype = torch.bfloat16 if device.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
    with _own_rngs():
        tf.set_seed(cfg.seed)
        model: Any = tf.AutoModelForCausalLM.from_pretrained(str(base), dtype=dtype)
        n_params = sum(p.numel() for p in model.parameters())
        lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0, target_modules="all-linear",
                          task_type="CAUSAL_LM")
        with warnings.catch_warnings():  # peft reads a deprecated transformers property; not the user's to fix
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            model = get_peft_model(model, lora)
        n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        per_step = cfg.batch_size * cfg.grad_accum
        steps = max(1, math.ceil(len(enc_train) / per_step * cfg.epochs))
        ckpt_dir = out / "checkpoints"
        args = tf.TrainingArguments(
            output_dir=str(ckpt_dir), per_device_train_batch_size=cfg.batch_size,
            per_device_eval_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
            max_steps=steps, learning_rate=cfg.learning_rate, lr_scheduler_type="cosine",
            warmup_steps=cfg.warmup, weight_decay=0.0, logging_steps=1, save_strategy="steps",
            save_steps=cfg.save_steps, save_total_limit=2, eval_strategy="no", seed=cfg.seed, data_seed=cfg.seed,
            report_to=[], disable_tqdm=True, log_level="error", use_cpu=not device.startswith("cuda"),
            bf16=dtype == torch.bfloat16, dataloader_num_workers=0, remove_unused_columns=False,
            train_sampling_strategy="group_by_length")
        collator = tf.DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100, return_tensors="pt")
        callbacks = [_Progress(progress, steps)] if progress is not None else []
        trainer = tf.Trainer(model=model, args=args, train_dataset=_Rows(enc_train), eval_dataset=_Rows(enc_val),
                             data_collator=collator, callbacks=callbacks)
        trainer.remove_callback(tf.trainer_callback.PrinterCallback)  # progress goes to `progress`, not stdout
        resume = _last_checkpoint(ckpt_dir)
        before = _read_json(out / "val_before.json")
        if before is None and enc_val and resume is None:
            before = trainer.evaluate()["eval_loss"]
            _write_json(out / "val_before.json", before)
        result = trainer.train(resume_from_checkpoint=resume)
        after = trainer.evaluate()["eval_loss"] if enc_val else None
        trainer.save_model(str(out / "adapter"))
        peft_model: Any = trainer.model
        merged = peft_model.merge_and_unload()
        merged = merged.to(getattr(torch, merged_dtype))
        with _quiet_progress_bars():
            merged.save_pretrained(str(out / "merged"))
        tok.save_pretrained(str(out / "merged"))
    epoch_tokens = sum(len(e.input_ids) for e in enc_train)
    seen = min(steps * per_step, math.ceil(len(enc_train) * cfg.epochs))
    train_tokens = round(epoch_tokens * seen / len(enc_train))
    val_tokens = sum(len(e.input_ids) for e in enc_val)
    flops = (4 * n_params + 2 * n_trainable) * train_tokens + 2 * n_params * val_tokens * (2 if enc_val else 0)
    res = TrainResult(adapter=str(out / "adapter"), merged=str(out / "merged"), steps=steps,
                      train_tokens=train_tokens,
                      completion_tokens=round(sum(e.completion_tokens for e in enc_train) * seen / len(enc_train)),
                      val_loss_before=before, val_loss_after=after,
                      train_loss=float(result.training_loss) if result.training_loss is not None else None,
                      flops=float(flops), n_params=n_params, n_trainable=n_trainable, dropped=dropped,
                      wall_s=round(time.perf_counter() - t0, 1), resumed_from=resume)
    _write_json(out / "train.json", {"config": cfg.to_dict(), "result": res.to_dict()})
    return res


class _Rows:
    """The encoded examples as the map-style dataset Trainer reads (with lengths for grouping)."""

    def __init__(self, rows: Sequence[Encoded]) -> None:
        self.rows = list(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        r = self.rows[i]
        return {"input_ids": r.input_ids, "labels": r.labels, "attention_mask": [1] * len(r.input_ids)}


def _Progress(report: ProgressFn, steps: int) -> Any:
    """A TrainerCallback that passes step, loss and evaluation results to `report`."""
    import transformers as tf

    class Progress(tf.TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kw: Any) -> None:
            logs = logs or {}
            report({"step": state.global_step, "steps": steps, "epoch": state.epoch,
                    **{k: logs[k] for k in ("loss", "eval_loss") if k in logs}})

    return Progress()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
