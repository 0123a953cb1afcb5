"""Progress for long commands, on a terminal and off it.

On a terminal: rich's live bar. Anywhere else (make, nohup, CI logs): plain lines on stderr, at most
one every `every_s` seconds plus the last, so a log shows the work moving without drowning in it.
rich draws nothing when the output is not a terminal, which is why the plain path is ours.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO


class Lines:
    """Plain progress lines: `update(done, **fields)`; prints "label: done/total (p%) k=v … elapsed, eta"."""

    def __init__(self, label: str, total: int | None, *, every_s: float = 30.0, stream: TextIO | None = None,
                 clock: Any = time.monotonic, unit: str = "tokens") -> None:
        self.label, self.total, self.every_s, self.unit = label, total, every_s, unit
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.t0 = clock()
        self.last: float | None = None
        self.start_done: int | None = None

    def update(self, done: int, *, force: bool = False, **fields: Any) -> None:
        now = self.clock()
        if self.start_done is None:
            self.start_done = done - 1 if done > 0 else 0
        finished = self.total is not None and done >= self.total
        if not force and not finished and self.last is not None and now - self.last < self.every_s:
            return
        self.last = now
        count = f"{done}/{self.total} ({100 * done / self.total:.0f}%)" if self.total else f"{done} {self.unit}"
        parts = [f"{self.label}: {count}"]
        parts += [f"{k} {v}" for k, v in fields.items() if v is not None]
        elapsed = now - self.t0
        parts.append(f"elapsed {_hms(elapsed)}")
        rate_done = done - self.start_done
        if self.total and 0 < rate_done and done < self.total:
            parts.append(f"eta {_hms(elapsed / rate_done * (self.total - done))}")
        print(", ".join(parts), file=self.stream, flush=True)


def _hms(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Bar:
    """The same interface over rich's progress bar (terminals only)."""

    def __init__(self, progress: Any, label: str, total: int | None) -> None:
        self.progress, self.task = progress, progress.add_task(label, total=total, info="")

    def update(self, done: int, *, force: bool = False, **fields: Any) -> None:
        info = "  ".join(f"{k} {v}" for k, v in fields.items() if v is not None)
        self.progress.update(self.task, completed=done, info=info)


@contextmanager
def progress_lines(tty: bool | None = None, every_s: float = 30.0) -> Iterator[Any]:
    """Yields `make(label, total) -> Bar | Lines`: a bar on a terminal, plain lines elsewhere."""
    tty = sys.stderr.isatty() if tty is None else tty
    if not tty:
        yield lambda label, total: Lines(label, total, every_s=every_s)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), TimeRemainingColumn(), console=Console(stderr=True)) as prog:
        yield lambda label, total: Bar(prog, label, total)
