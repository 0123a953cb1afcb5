"""Unpack committed eval logs into a working folder, so analyses read them without touching `runs/`.

Long runs are committed as `NAME.log.jsonl.gz` + `NAME.run.json` beside each other under bench/;
`ponder report` and the replay scripts read a run as a folder (`NAME/log.jsonl`, `NAME/run.json`).
This turns the one into the other in a temporary folder, from any directory, with nothing but the
standard library. A plain file (a fitted rule or policy, `.json`) is copied as it is.

    python bench/lib/logs.py /tmp/w runs/heldout/q05-arith-s0-vote16 runs/heldout/stop-arith-answer.json

With `--live DIR`, a run that DIR holds (`DIR/NAME/log.jsonl`, a run still growing) is taken from
there instead, when it has at least as many records as the committed one. To resume a run in runs/
(restore what is committed, keep what has grown further):

    python bench/lib/logs.py runs --live runs runs/held-out-200/q05-gsm8k-vote16
"""

from __future__ import annotations

import argparse
import gzip
import shutil
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]


def records(path: Path) -> int:
    if not path.is_file():
        return 0
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def unpack(name: str, dest: Path, live: Path | None = None) -> Path:
    """Committed `bench/NAME` → `dest/<basename>`; returns the run folder (or the copied file)."""
    src = BENCH / name
    if src.suffix == ".json" and src.is_file():
        dest.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(src, dest / src.name))
    log, meta = src.with_name(src.name + ".log.jsonl.gz"), src.with_name(src.name + ".run.json")
    if not log.is_file() or not meta.is_file():
        raise SystemExit(f"no committed run {name!r} (looked for {log} and {meta})")
    out = dest / src.name
    out.mkdir(parents=True, exist_ok=True)
    grown = live / src.name if live else None
    if grown is not None and records(grown / "log.jsonl") >= records(log):
        if grown.resolve() != out.resolve():  # `logs.py runs --live runs`: a longer log stays where it is
            shutil.copy(grown / "log.jsonl", out / "log.jsonl")
            shutil.copy(grown / "run.json", out / "run.json")
        return out
    with gzip.open(log, "rb") as f, open(out / "log.jsonl", "wb") as g:
        shutil.copyfileobj(f, g)
    shutil.copy(meta, out / "run.json")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest", type=Path, help="folder to unpack into")
    ap.add_argument("names", nargs="+", help="committed runs or files, relative to bench/")
    ap.add_argument("--live", type=Path, help="prefer longer logs of the same name in this folder (runs/)")
    args = ap.parse_args()
    for name in args.names:
        unpack(name, args.dest, args.live)


if __name__ == "__main__":
    main()
