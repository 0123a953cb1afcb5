"""The web view: `/ui` (a page that watches a strategy work, and browses eval runs) and the JSON it
reads under `/v1/ponder/` (so the server's API key guards it like everything else under /v1).

The page is plain HTML, CSS and JavaScript shipped in the package (`ponder/server/ui/`): nothing to
build, no CDN, works offline. It asks through the OpenAI-compatible endpoint with `stream: true` and
`ponder.events: true`, and draws the live events (sample deltas, answers, votes, search tree, usage).

Runs: only directories directly under the folder the operator named (`ponder serve --runs DIR`,
`ponder ui DIR`) that hold an eval log are listed or read; a request names a run by its directory
name, never by a path.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response

from ponder.server import errors

ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}


def _asset(name: str) -> str:
    return resources.files("ponder.server").joinpath("ui", name).read_text(encoding="utf-8")


class Runs:
    """Eval run directories under one root, read on request (runs grow while they are watched)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            from ponder.errors import ConfigError

            raise ConfigError("runs", str(root), "is not a directory")

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if (p / "log.jsonl").is_file())

    def _run(self, name: str) -> Any:
        from ponder.eval.runner import RunDir

        if name not in self.names():  # names only: "../x", "a/b" and absolute paths never match
            raise errors.APIError(404, f"run {name!r} is not under the runs folder", param="run", code="run_not_found")
        return RunDir(self.root / name)

    def listing(self) -> list[dict[str, Any]]:
        from ponder.eval.metrics import summary

        out = []
        for name in self.names():
            run = self._run(name)
            cfg, recs = run.config(), run.records()
            out.append({"name": name, **{k: cfg.get(k) for k in ("dataset", "strategy", "n", "model", "verifier")},
                        **summary(recs)})
        return out

    def detail(self, name: str) -> dict[str, Any]:
        from ponder.eval.metrics import curve, summary

        run = self._run(name)
        recs = run.records()
        problems = [{"problem_id": r["problem_id"], "seed": r.get("seed"), "level": r.get("level"),
                     "reference": r.get("reference"), "answer": r.get("answer"), "correct": r.get("correct"),
                     "samples": len(r.get("candidates") or ()),
                     "tokens": (r.get("usage") or {}).get("completion_tokens")} for r in recs]
        return {"name": name, "config": run.config(), "summary": summary(recs), "problems": problems,
                "curve": curve(recs, methods=("majority", "oracle"), subsamples=32) if recs else [],
                "issues": list(run.issues)}

    def problem(self, name: str, problem_id: str, seed: int | None) -> dict[str, Any]:
        for r in self._run(name).records():
            if r["problem_id"] == problem_id and (seed is None or r.get("seed") == seed):
                return r
        raise errors.APIError(404, f"problem {problem_id!r} is not in run {name!r}", param="problem",
                              code="problem_not_found")

    def plot(self, name: str) -> bytes:
        """The same accuracy-vs-compute figure as `ponder report`, as PNG."""
        try:
            from ponder.eval.plots import plot_curves
        except ImportError as e:  # pragma: no cover - the eval extra is missing
            raise errors.APIError(501, f"plots need matplotlib: {e}", code="not_installed") from e
        recs = self._run(name).records()
        with tempfile.TemporaryDirectory() as d:
            path = plot_curves([(name, recs)], Path(d) / "curves.png", subsamples=32)
            return path.read_bytes()


def mount(app: FastAPI, *, options: Callable[[], dict[str, Any]], runs: Runs | None) -> None:
    """Add the page and its JSON routes to `app`."""

    @app.get("/ui", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse(_asset("index.html"))

    @app.get("/ui/{asset}")
    async def asset(asset: str) -> Response:
        if asset not in ASSETS:
            raise errors.APIError(404, f"no such file: {asset!r}", code="not_found")
        return Response(_asset(asset), media_type=ASSETS[asset])

    @app.get("/v1/ponder/options")
    async def get_options() -> dict[str, Any]:
        return {**options(), "runs": runs is not None}

    def need_runs() -> Runs:
        if runs is None:
            raise errors.APIError(404, "this server shows no runs (start it with --runs DIR)", code="no_runs")
        return runs

    @app.get("/v1/ponder/runs")
    async def list_runs() -> dict[str, Any]:
        return {"runs": await asyncio.to_thread(need_runs().listing)}

    @app.get("/v1/ponder/runs/{name}")
    async def run_detail(name: str) -> dict[str, Any]:
        return await asyncio.to_thread(need_runs().detail, name)

    @app.get("/v1/ponder/runs/{name}/plot.png")
    async def run_plot(name: str) -> Response:
        return Response(await asyncio.to_thread(need_runs().plot, name), media_type="image/png")

    @app.get("/v1/ponder/runs/{name}/problems/{problem_id}")
    async def run_problem(name: str, problem_id: str, seed: int | None = None) -> dict[str, Any]:
        return await asyncio.to_thread(need_runs().problem, name, problem_id, seed)


def create_runs_app(runs_dir: str | Path) -> FastAPI:
    """The page and the runs alone, no model (`ponder ui DIR`)."""
    app = FastAPI(title="ponder ui", version="0.1.0")
    errors.install(app)
    mount(app, options=lambda: {"model": None, "generation": False}, runs=Runs(runs_dir))
    return app
