"""Rebuild every measured figure in docs/img/ from the committed logs, without a model (`make figures`).

A figure in the docs is only as honest as the way back from it to the logs: each entry below names the
committed logs it reads and the command that draws it. The logs are unpacked into a temporary folder
laid out as the commands in bench/'s READMEs expect (`runs/NAME/log.jsonl`), so the commands here are
the ones quoted there. The /ui screenshots are not measurements; `make screenshots` takes them.

    python bench/lib/figures.py              # all of them, into docs/img/
    python bench/lib/figures.py --only revisions.png --out /tmp/img
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from logs import unpack  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

# figure file → (committed logs, "folder/name" under bench/; the command, with {runs} for the unpacked
# logs, {out} for the figure's path, {py} for this Python, {ponder} for the CLI; the file the command
# draws, when it cannot be told where: copied to {out})
FIGURES: dict[str, tuple[list[str], list[str], str]] = {
    "frontier-arith.png": (
        ["runs/heldout/q05-arith-s0-vote16", "runs/heldout/q05-arith-s1-vote16",
         "runs/frontier/q15-arith-s0-vote4", "runs/frontier/q15-arith-s1-vote4",
         "runs/held-out-200/q05-arith-s3-vote16", "runs/held-out-200/q15-arith-s3-vote4"],
        ["{py}", "bench/experiments/small-vs-large/frontier_heldout.py",
         "--fit", "{runs}/q05-arith-s0-vote16", "--fit", "{runs}/q05-arith-s1-vote16",
         "--fit", "{runs}/q15-arith-s0-vote4", "--fit", "{runs}/q15-arith-s1-vote4",
         "--report", "{runs}/q05-arith-s3-vote16", "--report", "{runs}/q15-arith-s3-vote4",
         "--probe", "2", "--plot", "{out}", "--panels", "all,3,5"],
        "{out}",
    ),
    "revisions.png": (
        ["runs/revisions/q05-arith-s2-vote4", "runs/revisions/q05-arith-s2-revise4-c1",
         "runs/revisions/q05-arith-s2-revise4-c2"],
        ["{py}", "bench/experiments/revisions/revisions.py", "--vote", "{runs}/q05-arith-s2-vote4",
         "--run", "revise-c1={runs}/q05-arith-s2-revise4-c1", "--run", "revise-c2={runs}/q05-arith-s2-revise4-c2",
         "--plot", "{out}"],
        "{out}",
    ),
    # reads bench/runs/distill/ and bench/runs/held-out-200/ in place (a distill folder is not one log)
    "distill-arith.png": (
        [],
        ["bash", "bench/experiments/distill/analyse.sh", "arith", "--plot", "{out}"],
        "{out}",
    ),
    "gsm8k-vote16.png": (
        ["runs/held-out-200/q05-gsm8k-vote16"],
        ["{ponder}", "report", "{runs}/q05-gsm8k-vote16", "-o", "{runs}/report"],
        "{runs}/report/curves.png",
    ),
}


def draw(name: str, out: Path, work: Path) -> None:
    logs, command, drawn = FIGURES[name]
    runs = work / name.removesuffix(".png")
    for log in logs:
        unpack(log, runs)
    fill = {"runs": runs, "out": out / name, "py": sys.executable,
            "ponder": str(Path(sys.executable).with_name("ponder"))}
    subprocess.run([a.format(**fill) for a in command], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    if drawn != "{out}":
        shutil.copy(drawn.format(**fill), out / name)
    print(f"{out / name}: from {', '.join(logs) or ' '.join(command[:3])}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="folder for the figures")
    ap.add_argument("--only", action="append", choices=sorted(FIGURES), help="draw only this figure (repeatable)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ponder-figures-") as work:
        for name in args.only or FIGURES:
            draw(name, args.out.resolve(), Path(work))


if __name__ == "__main__":
    main()
