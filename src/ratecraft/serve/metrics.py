"""The service's Prometheus metrics (``GET /metrics``), on a registry of their own so two
services in one process (tests) never share counters."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["ServiceMetrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "ratecraft_requests", "Requests answered", ("endpoint", "status"), registry=r
        )
        self.latency = Histogram(
            "ratecraft_request_seconds",
            "Time to answer",
            ("endpoint",),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.inflight = Gauge("ratecraft_inflight", "Requests being computed", registry=r)
        self.rejected = Counter(
            "ratecraft_rejected", "Requests refused before any work", ("reason",), registry=r
        )
        self.samples = Counter(
            "ratecraft_samples", "Stored values compressed or decompressed", ("op",), registry=r
        )
        self.ratio = Histogram(
            "ratecraft_compress_ratio",
            "Real ratio of compressed requests",
            ("model",),
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
            registry=r,
        )
        self.ab_requests = Counter(
            "ratecraft_ab_requests", "Requests an A/B split routed", ("model", "arm"), registry=r
        )
        self.ab_sndr = Gauge(
            "ratecraft_ab_mean_sndr_db",
            "Mean SNDR measured on the requests a version served under A/B",
            ("model", "arm"),
            registry=r,
        )
        self.ab_ratio = Gauge(
            "ratecraft_ab_mean_ratio",
            "Mean real ratio of the requests a version served under A/B",
            ("model", "arm"),
            registry=r,
        )

    def text(self) -> bytes:
        return generate_latest(self.registry)
