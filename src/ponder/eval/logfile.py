"""The one reader of eval logs and their settings (`log.jsonl`, `run.json`): everything that reads a
run (report, plot, export, fit-*, a resuming eval, distill, the /ui runs browser) goes through it, so a
damaged or hostile file is handled once.

A log line is kept only if it is a record of the shape `ponder eval` writes (`check_record`: typed
fields, a bounded line length and nesting depth); anything else is skipped and counted in `issues`,
with the line number and the file named as the caller chose (a path relative to the runs folder on the
server, never the server's own absolute path). Nothing good is ever deleted: only a torn *last* line,
a write a crash interrupted, is cut when a run resumes (`repair`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ponder.errors import ConfigError
from ponder.files import MAX_DEPTH, json_depth_ok, load_json

MAX_LINE_BYTES = 8 << 20
"""A record is one question: its samples' texts and trace. 8 MiB holds 64 samples of 32k tokens."""

_NUM = (int, float)


def _opt(v: Any, *types: type) -> bool:
    return v is None or (isinstance(v, types) and not isinstance(v, bool)) or (bool in types and isinstance(v, bool))


def check_record(rec: Any) -> str | None:
    """Why `rec` is not an eval record (None: it is one)."""
    if not isinstance(rec, dict):
        return "not a JSON object"
    pid, seed = rec.get("problem_id"), rec.get("seed")
    if not isinstance(pid, (str, int)) or isinstance(pid, bool) or not isinstance(seed, int) or isinstance(seed, bool):
        return "no problem_id and seed"
    for key, types in (("question", (str,)), ("reference", (str,)), ("answer", (str,)), ("strategy", (str,)),
                       ("correct", (bool,)), ("level", (int,)), ("chosen", (int,)), ("finished_at", _NUM)):
        if not _opt(rec.get(key), *types):
            return f"{key} is not a {types[0].__name__}"
    cands = rec.get("candidates", [])
    if not isinstance(cands, list):
        return "candidates is not a list"
    for c in cands:
        if not isinstance(c, dict) or not _opt(c.get("text"), str) or not _opt(c.get("answer"), str) \
                or not _opt(c.get("correct"), bool) or not _opt(c.get("tokens"), int) \
                or not _opt(c.get("score"), *_NUM) or not _opt(c.get("finish_reason"), str):
            return "a candidate is not what ponder eval writes"
    chosen = rec.get("chosen")
    if chosen is not None and not 0 <= chosen < max(len(cands), 1):
        return "chosen is not one of its candidates"
    usage = rec.get("usage", {})
    if not isinstance(usage, dict) or not all(_opt(v, *_NUM) for v in usage.values()):
        return "usage is not a table of numbers"
    if not isinstance(rec.get("trace", []), list):
        return "trace is not a list"
    return None


def iter_log(path: Path, *, repair: bool = False, issues: list[str] | None = None,
             label: str | None = None, light: bool = False) -> Iterator[dict[str, Any]]:
    """Records of a log as they are read, first of each (problem_id, seed): one line in memory at a
    time, so a log of any size is read in the memory of its records. Lines that are not records are
    skipped and described in `issues` (named by `label`, default the path) once the log is read; with
    `repair`, a torn last line (no newline: a crash mid-write) is cut off, and a last record missing its
    newline gets one. `light` drops what only a reader of samples needs (their texts, the trace): what
    summaries, curves and listings read stays."""
    if not path.exists():
        return
    name = label or str(path)
    seen: set[tuple[Any, Any]] = set()
    dupes = bad = 0
    first_bad = ""
    offset = 0
    with path.open("rb") as f:
        for no, line in enumerate(f, 1):
            start, offset = offset, offset + len(line)
            torn_tail = not line.endswith(b"\n")  # only the last piece can lack its newline
            if not line.strip():
                continue
            rec: Any = None
            why = None
            if len(line) > MAX_LINE_BYTES:
                why = f"longer than {MAX_LINE_BYTES} bytes"
            else:
                text = line.decode("utf-8", "replace")
                if not json_depth_ok(text, MAX_DEPTH):
                    why = f"nested deeper than {MAX_DEPTH} levels"
                else:
                    try:
                        rec = json.loads(text)
                    except (ValueError, RecursionError):
                        why = "a torn last line (a crash mid-write)" if torn_tail else "not valid JSON"
            if why is None:
                why = check_record(rec)
            if why is not None:
                if torn_tail and repair and rec is None:
                    with path.open("r+b") as w:
                        w.truncate(start)
                    if issues is not None:
                        issues.append(f"{name}: line {no} is {why}; skipped and removed")
                    continue
                bad += 1
                first_bad = first_bad or f"line {no} is {why}"
                continue
            if torn_tail and repair:
                with path.open("ab") as w:
                    w.write(b"\n")
            key = (rec["problem_id"], rec["seed"])
            if key in seen:
                dupes += 1
                continue
            seen.add(key)
            if light:
                rec.pop("trace", None)
                for c in rec.get("candidates") or ():
                    c.pop("text", None)
            yield rec
    if bad and issues is not None:
        issues.append(f"{name}: {bad} line(s) are not eval records and were skipped ({first_bad}); "
                      "the records around them are kept")
    if dupes and issues is not None:
        issues.append(f"{name}: {dupes} record(s) repeat a (problem, seed) already logged; the first is kept")


def read_log(path: Path, *, repair: bool = False, issues: list[str] | None = None,
             label: str | None = None, light: bool = False) -> list[dict[str, Any]]:
    """Every record of a log (`iter_log`'s, as a list)."""
    return list(iter_log(path, repair=repair, issues=issues, label=label, light=light))


def read_config(path: Path, *, label: str | None = None) -> dict[str, Any]:
    """A run's settings (`run.json`), {} when there is none; a ConfigError naming `label` when it is
    not a JSON object ponder could have written."""
    if not path.exists():
        return {}
    name = label or str(path)
    try:
        cfg = load_json(path, param="run", what="run.json", max_bytes=1 << 20)
    except ConfigError as e:
        raise ConfigError("run", name, str(e).split(": ", 1)[-1]) from None
    if not isinstance(cfg, dict):
        raise ConfigError("run", name, "is not a JSON object (a ponder eval run.json)")
    return cfg
