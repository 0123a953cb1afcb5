"""A fleet of OpenAI-compatible endpoints used as one generator (data parallel), with failover.

Each request goes to the healthy endpoint with the least outstanding work (requested tokens in
flight). An endpoint whose calls fail `fail_threshold` times in a row leaves the rotation; after
`probe_after_s` it gets one trial request, and rejoins if that succeeds. A request whose endpoint
fails (after that endpoint's own bounded retries) is retried on another endpoint within its
deadline; every failover is recorded in the request's events, so nothing is lost silently. When
every endpoint is down, the request fails with the last error instead of hanging.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ponder.backends.base import Capabilities, ProgressFn, per_request, stopped, stopped_response
from ponder.backends.openai_http import OpenAIGenerator
from ponder.errors import ConfigError, RetryableBackendError
from ponder.types import GenRequest, GenResponse


@dataclass
class _Member:
    gen: OpenAIGenerator
    outstanding: int = 0
    failures: int = 0
    down_since: float | None = None
    served: int = 0


class FleetGenerator:
    """endpoints: base URLs (or OpenAIGenerator objects). Other keyword arguments go to each
    OpenAIGenerator (model, api_key, timeout, logprobs, ...); each endpoint retries once by default
    before the fleet fails over."""

    def __init__(self, endpoints: Sequence[str | OpenAIGenerator], *, fail_threshold: int = 2,
                 probe_after_s: float = 10.0, **options: Any) -> None:
        if not endpoints:
            raise ConfigError("endpoints", list(endpoints), "a fleet needs at least one endpoint")
        if not isinstance(fail_threshold, int) or fail_threshold < 1:
            raise ConfigError("fail_threshold", fail_threshold, "must be an integer >= 1")
        options.setdefault("max_retries", 1)
        self.members = [_Member(e if isinstance(e, OpenAIGenerator) else OpenAIGenerator(e, **options))
                        for e in endpoints]
        self.fail_threshold, self.probe_after_s = fail_threshold, probe_after_s
        caps = [m.gen.capabilities for m in self.members]
        self._caps = Capabilities(logprobs=all(c.logprobs for c in caps),
                                  top_logprobs=min(c.top_logprobs for c in caps), prefix_reuse=True,
                                  native_n=all(c.native_n for c in caps), max_context=caps[0].max_context,
                                  chat=True, continuation=all(c.continuation for c in caps),
                                  parameters=max((c.parameters for c in caps if c.parameters), default=None))

    @classmethod
    def from_file(cls, path: str | Path, **options: Any) -> FleetGenerator:
        """One base URL per line; blank lines and # comments are skipped."""
        try:
            lines = Path(path).read_text().splitlines()
        except OSError as e:
            raise ConfigError("endpoints", str(path), f"cannot read: {e}") from e
        return cls([ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")], **options)

    @property
    def name(self) -> str:
        return f"fleet[{len(self.members)}]"

    @property
    def capabilities(self) -> Capabilities:
        return self._caps

    def _available(self, exclude: set[int]) -> list[int]:
        now = time.monotonic()
        out = []
        for i, m in enumerate(self.members):
            if i in exclude:
                continue
            if m.down_since is None or now - m.down_since >= self.probe_after_s:
                out.append(i)
        return out

    def _pick(self, exclude: set[int]) -> int | None:
        avail = self._available(exclude)
        return min(avail, key=lambda i: (self.members[i].outstanding, self.members[i].served, i)) if avail else None

    def _scrub(self, text: str) -> str:
        """Upstream URLs out of text a client may see (traces, errors): the operator's hosts stay private."""
        for i, m in enumerate(self.members):
            text = text.replace(m.gen.base_url, _label(i))
        return text

    async def _one(self, req: GenRequest, progress: ProgressFn | None) -> GenResponse:
        if stopped(req):  # cancelled or past its deadline before any member took it
            return stopped_response(req)
        events: list[dict[str, Any]] = []
        tried: set[int] = set()
        last: RetryableBackendError | None = None
        cost = req.n * req.params.max_tokens
        while True:
            i = self._pick(tried)
            late = req.deadline is not None and time.monotonic() >= req.deadline
            if i is None or late:
                raise RetryableBackendError(self._scrub(str(last)) if last else "no endpoint of the fleet is available",
                                            timeout=late or bool(last and last.timeout))
            m = self.members[i]
            m.outstanding += cost
            try:
                [resp] = await m.gen.generate([req], progress=progress)
                if resp.error is not None:  # the member answered this request with its own error
                    raise resp.error
            except RetryableBackendError as e:  # a 4xx would fail anywhere: FatalBackendError propagates
                m.failures += 1
                if m.failures >= self.fail_threshold:
                    m.down_since = time.monotonic()
                tried.add(i)
                last = e
                events.append({"event": "failover", "endpoint": _label(i), "error": self._scrub(str(e))[:300],
                               "endpoint_down": m.down_since is not None})
                continue
            finally:
                m.outstanding -= cost
            m.failures, m.down_since = 0, None
            m.served += 1
            if events:
                events.append({"event": "served_by", "endpoint": _label(i)})
            return GenResponse(outputs=resp.outputs, usage=resp.usage, events=tuple(events) + resp.events)

    async def generate(self, requests: Sequence[GenRequest], *,
                       progress: ProgressFn | None = None) -> list[GenResponse]:
        return await per_request(self._one(r, progress) for r in requests)

    async def aclose(self) -> None:
        """Close every endpoint's HTTP connections (call it in the event loop that used them)."""
        for m in self.members:
            await m.gen.aclose()

    def status(self) -> list[dict[str, Any]]:
        return [{"endpoint": m.gen.base_url, "up": m.down_since is None, "served": m.served,
                 "outstanding": m.outstanding, "failures": m.failures} for m in self.members]


def _label(i: int) -> str:
    """How traces name the fleet's i-th endpoint (its URL is for the operator: `status()`, metrics)."""
    return f"upstream {i + 1}"
