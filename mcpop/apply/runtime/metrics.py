"""Prometheus metrics, named like controller-runtime's, plus mcpop's own. `_created` series are off."""

from __future__ import annotations

import prometheus_client
from prometheus_client import Counter, Gauge, Histogram

prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

CONTROLLER = "mcpserver"

RECONCILE_TOTAL = Counter(
    "controller_runtime_reconcile_total", "Total number of reconciliations per controller", ["controller", "result"]
)
RECONCILE_ERRORS = Counter(
    "controller_runtime_reconcile_errors_total", "Total number of reconciliation errors per controller", ["controller"]
)
RECONCILE_TIME = Histogram(
    "controller_runtime_reconcile_time_seconds", "Length of time per reconciliation per controller", ["controller"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)  # fmt: skip
TERMINAL_ERRORS = Counter(
    "controller_runtime_terminal_reconcile_errors_total", "Total number of terminal reconciliation errors",
    ["controller"],
)  # fmt: skip
ACTIVE_WORKERS = Gauge("controller_runtime_active_workers", "Number of workers in use", ["controller"])
MAX_WORKERS = Gauge("controller_runtime_max_concurrent_reconciles", "Maximum number of workers", ["controller"])
WORKQUEUE_DEPTH = Gauge("workqueue_depth", "Current depth of workqueue", ["name", "controller"])
WORKQUEUE_ADDS = Counter("workqueue_adds_total", "Total number of adds handled by workqueue", ["name", "controller"])
WORKQUEUE_RETRIES = Counter(
    "workqueue_retries_total", "Total number of retries handled by workqueue", ["name", "controller"]
)
FIELD_TAKEOVERS = Counter(
    "mcpop_field_takeovers_total", "Fields the operator took from another field manager (a forced apply)",
    ["kind", "field_manager"],
)  # fmt: skip
OBJECTS = Counter("mcpop_objects_total", "Objects changed by the operator", ["operation", "kind"])
API_REQUESTS = Counter("mcpop_api_requests_total", "Requests sent to the Kubernetes API server", ["verb", "resource"])
LEADER = Gauge("leader_election_master_status", "1 when this replica leads", ["name"])


class QueueMetrics:
    """Workqueue metrics for one named queue (the `QueueMetrics` protocol of mcpop.apply.runtime.workqueue)."""

    def __init__(self, name: str = CONTROLLER) -> None:
        self._adds = WORKQUEUE_ADDS.labels(name, name)
        self._retries = WORKQUEUE_RETRIES.labels(name, name)
        self._depth = WORKQUEUE_DEPTH.labels(name, name)

    def added(self) -> None:
        self._adds.inc()

    def retried(self) -> None:
        self._retries.inc()

    def depth(self, n: int) -> None:
        self._depth.set(n)


def count_request(verb: str, resource: str) -> None:
    API_REQUESTS.labels(verb, resource).inc()


def start_metrics_server(host: str, port: int) -> object:
    """Serve /metrics; returns the server (has `shutdown()`)."""
    server, _thread = prometheus_client.start_http_server(port, addr=host)
    return server


def init_controller(name: str = CONTROLLER) -> None:
    """Create every label set of a controller's metrics, so they show (as 0) before the first event."""
    for result in ("success", "error", "requeue", "requeue_after"):
        RECONCILE_TOTAL.labels(name, result)
    RECONCILE_ERRORS.labels(name)
    TERMINAL_ERRORS.labels(name)
    RECONCILE_TIME.labels(name)
    ACTIVE_WORKERS.labels(name)
