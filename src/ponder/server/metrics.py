"""Prometheus metrics for one app, in the app's own registry (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("ponder_requests_total", "Requests by endpoint and status",
                                ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("ponder_request_seconds", "Request latency", ["endpoint"],
                                 registry=self.registry,
                                 buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
        self.tokens = Counter("ponder_tokens_total", "Tokens spent, summed over internal calls", ["kind"],
                              registry=self.registry)
        self.inflight = Gauge("ponder_inflight_requests", "Requests being served", registry=self.registry)
        self.batch = Histogram("ponder_backend_batch_requests", "Requests per backend call (dynamic batching)",
                               registry=self.registry, buckets=(1, 2, 4, 8, 16, 32, 64))
