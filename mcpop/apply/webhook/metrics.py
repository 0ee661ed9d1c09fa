"""Webhook metrics, named as controller-runtime's webhook server names them."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

LATENCY = Histogram("controller_runtime_webhook_latency_seconds", "Histogram of the latency of processing "
                    "admission requests", ["webhook"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))  # fmt: skip
REQUESTS = Counter("controller_runtime_webhook_requests_total", "Total number of admission requests by HTTP "
                   "status code", ["webhook", "code"])  # fmt: skip
DENIED = Counter("mcpop_webhook_denied_total", "Admission requests denied by the validating webhook", ["webhook"])


def observe(path: str, allowed: bool, seconds: float) -> None:
    """Record one answered admission request."""
    LATENCY.labels(path).observe(seconds)
    REQUESTS.labels(path, "200").inc()
    if not allowed:
        DENIED.labels(path).inc()
