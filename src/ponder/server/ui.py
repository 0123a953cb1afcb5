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
import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response

from ponder.server import errors

ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}
HARDENING = {
    # the page runs only its own script and style, talks only to its own server, is never framed
    "content-security-policy": "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                               "form-action 'self'",
    "x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer",
}
"""Headers every /ui response carries."""
MAX_LOG_BYTES = 512 << 20
"""The biggest log the page reads (ponder report reads any)."""


def _asset(name: str) -> str:
    return resources.files("ponder.server").joinpath("ui", name).read_text(encoding="utf-8")


class Runs:
    """Eval run directories under one root, read on request (runs grow while they are watched)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            from ponder.errors import ConfigError

            raise ConfigError("runs", str(root), "is not a directory")
        self._parse = threading.Lock()
        """One log parsed at a time: concurrent requests for big logs wait, memory does not add up, and
        a request that waited finds the index its predecessor built instead of parsing again."""
        self._index: dict[str, tuple[tuple[int, int, int], dict[str, Any], dict[str, Any]]] = {}
        """Per run: (log size, log mtime, run.json mtime) → its listing row and detail, parsed once."""

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if (p / "log.jsonl").is_file())

    def _run(self, name: str) -> Any:
        from ponder.eval.runner import RunDir

        if name not in self.names():  # names only: "../x", "a/b" and absolute paths never match
            raise errors.APIError(404, f"run {name!r} is not under the runs folder", param="run", code="run_not_found")
        return RunDir(self.root / name, shown_from=self.root)

    def _check_size(self, run: Any) -> None:
        size = run.log_path.stat().st_size
        if size > MAX_LOG_BYTES:
            raise errors.APIError(413, f"run {run.path.name!r}: its log is {size} bytes, more than the page reads "
                                  f"({MAX_LOG_BYTES}); use ponder report", code="log_too_large")

    def _records(self, run: Any, *, light: bool = False) -> list[dict[str, Any]]:
        """The run's records; `light`: without sample texts and traces (what listings and curves read)."""
        from ponder.eval.logfile import read_log

        self._check_size(run)
        with self._parse:
            run.issues = []
            return read_log(run.log_path, issues=run.issues, label=run.label("log.jsonl"), light=light)

    def _indexed(self, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The run's listing row and detail, recomputed only when its files changed."""

        run = self._run(name)

        def key() -> tuple[int, int, int]:
            log, cfg_path = run.log_path.stat(), run.path / "run.json"
            return log.st_size, log.st_mtime_ns, cfg_path.stat().st_mtime_ns if cfg_path.exists() else 0

        hit = self._index.get(name)
        if hit is not None and hit[0] == key():
            return hit[1], hit[2]
        self._check_size(run)
        with self._parse:  # whoever waited here finds the index the request before it built
            hit = self._index.get(name)
            now = key()
            if hit is not None and hit[0] == now:
                return hit[1], hit[2]
            row, detail = self._build(name, run)
            self._index[name] = (now, row, detail)
        return row, detail

    def _build(self, name: str, run: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        from ponder.errors import ConfigError
        from ponder.eval.logfile import read_log
        from ponder.eval.metrics import summary

        try:
            cfg = run.config()
        except ConfigError as e:  # a damaged run.json: the run is listed with what is wrong, not a 500
            cfg = {"error": str(e)}
        run.issues = []
        recs = read_log(run.log_path, issues=run.issues, label=run.label("log.jsonl"), light=True)
        problems = [{"problem_id": r["problem_id"], "seed": r.get("seed"), "level": r.get("level"),
                     "reference": r.get("reference"), "answer": r.get("answer"), "correct": r.get("correct"),
                     "samples": len(r.get("candidates") or ()),
                     "tokens": (r.get("usage") or {}).get("completion_tokens")} for r in recs]
        row = {"name": name, **{k: cfg.get(k) for k in ("dataset", "strategy", "n", "model", "verifier", "error")
                                if k in cfg or k != "error"}, **summary(recs),
               **({"issues": list(run.issues)} if run.issues else {})}
        detail = {"name": name, "config": cfg, "summary": summary(recs), "problems": problems,
                  "curve": None, "issues": list(run.issues)}  # the curve when the run is opened (detail)
        return row, detail

    def listing(self) -> list[dict[str, Any]]:
        out = []
        for name in self.names():
            try:
                out.append(self._indexed(name)[0])
            except errors.APIError as e:
                out.append({"name": name, "error": e.message})
        return out

    def detail(self, name: str) -> dict[str, Any]:
        """The run's detail with its accuracy curve, computed the first time the run is opened (a
        bootstrap over every question: seconds on a log of thousands, so not for the listing)."""
        from ponder.eval.logfile import read_log
        from ponder.eval.metrics import curve

        detail = self._indexed(name)[1]
        if detail["curve"] is None:
            run = self._run(name)
            with self._parse:
                if detail["curve"] is None:
                    recs = read_log(run.log_path, label=run.label("log.jsonl"), light=True)
                    detail["curve"] = curve(recs, methods=("majority", "oracle"), subsamples=32) if recs else []
        return detail

    def problem(self, name: str, problem_id: str, seed: int | None) -> dict[str, Any]:
        from ponder.eval.logfile import iter_log

        run = self._run(name)
        self._check_size(run)
        with self._parse:  # read record by record: only the one asked for is kept
            for r in iter_log(run.log_path, label=run.label("log.jsonl")):
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
        recs = self._records(self._run(name), light=True)
        with tempfile.TemporaryDirectory() as d:
            path = plot_curves([(name, recs)], Path(d) / "curves.png", subsamples=32)
            return path.read_bytes()


def mount(app: FastAPI, *, options: Callable[[], dict[str, Any]], runs: Runs | None) -> None:
    """Add the page and its JSON routes to `app`."""

    @app.get("/ui", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse(_asset("index.html"), headers=HARDENING)

    @app.get("/ui/{asset}")
    async def asset(asset: str) -> Response:
        if asset not in ASSETS:
            raise errors.APIError(404, f"no such file: {asset!r}", code="not_found")
        return Response(_asset(asset), media_type=ASSETS[asset], headers=HARDENING)

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


def create_runs_app(runs_dir: str | Path, *, api_keys: tuple[str, ...] = (), max_inflight: int = 16) -> FastAPI:
    """The page and the runs alone, no model (`ponder ui DIR`): its JSON under /v1/ needs one of
    `api_keys` when any is given, and at most `max_inflight` requests read logs at once (429 beyond)."""
    from fastapi import Request
    from fastapi.responses import JSONResponse

    app = FastAPI(title="ponder ui", version="0.1.0")
    errors.install(app)
    state = {"inflight": 0}

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Any]) -> Any:
        if not request.url.path.startswith("/v1/"):
            return await call_next(request)
        auth = request.headers.get("authorization", "")
        if api_keys and (not auth.startswith("Bearer ") or auth[7:] not in api_keys):
            err = errors.APIError(401, "invalid or missing API key", type="authentication_error",
                                  code="invalid_api_key")
            return JSONResponse(err.body(), status_code=401)
        if state["inflight"] >= max_inflight:
            err = errors.APIError(429, f"over capacity: {state['inflight']} requests in flight", type="rate_limit",
                                  code="over_capacity")
            return JSONResponse(err.body(), status_code=429, headers={"retry-after": "1"})
        state["inflight"] += 1
        try:
            return await call_next(request)
        finally:
            state["inflight"] -= 1

    mount(app, options=lambda: {"model": None, "generation": False, "auth": bool(api_keys)}, runs=Runs(runs_dir))
    return app
