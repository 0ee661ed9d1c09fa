"""Prometheus metrics, named like controller-runtime's, plus mcpop's own. `_created` series are off."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import prometheus_client
from prometheus_client import Counter, Gauge, Histogram

from mcpop.apply.runtime.tls import ReloadingContext

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
#: 1/0 mirrors of a condition per object (the chart's alerts read them); removed when the object goes
MCPSERVER_READY = Gauge(
    "mcpop_mcpserver_ready", "1 when the MCPServer's Ready condition is True", ["namespace", "name"]
)
MCPSERVER_TOOLS_CHANGED = Gauge(
    "mcpop_mcpserver_tools_changed",
    "1 when the MCPServer's tools differ from spec.tools.approved (ToolsChanged)",
    ["namespace", "name"],
)
REGISTRY_SYNCED = Gauge("mcpop_registry_synced", "1 when the MCPRegistry's Synced condition is True",
                        ["namespace", "name"])  # fmt: skip
LEADER = Gauge("leader_election_master_status", "1 when this replica leads", ["name"])
#: the operator's in-memory caches: `registry` (MCPRegistries' GitHub listings: ETag'd responses and file texts
#: by blob sha) and `server` (catalogue entries parsed from the stored ConfigMaps)
CACHE_HITS = Counter("mcpop_cache_hits_total", "Lookups answered from the cache", ["cache"])
CACHE_MISSES = Counter("mcpop_cache_misses_total", "Lookups the cache could not answer (fetched or parsed anew)",
                       ["cache"])  # fmt: skip
CACHE_SIZE = Gauge("mcpop_cache_size", "Entries held in the cache", ["cache"])
CACHE_EVICTIONS = Counter("mcpop_cache_evictions_total", "Entries dropped from the cache (expired or their object "
                          "gone)", ["cache"])  # fmt: skip


class CacheMetrics:
    """The `mcpop_cache_*` series of one cache."""

    def __init__(self, cache: str) -> None:
        self._hits = CACHE_HITS.labels(cache)
        self._misses = CACHE_MISSES.labels(cache)
        self._size = CACHE_SIZE.labels(cache)
        self._evictions = CACHE_EVICTIONS.labels(cache)

    def hit(self, n: int = 1) -> None:
        if n:
            self._hits.inc(n)

    def miss(self, n: int = 1) -> None:
        if n:
            self._misses.inc(n)

    def size(self, n: int) -> None:
        self._size.set(n)

    def evicted(self, n: int = 1) -> None:
        if n:
            self._evictions.inc(n)


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


def start_metrics_server(host: str, port: int, tls: ReloadingContext | None = None,
                         authorize: Callable[[str | None], int] | None = None) -> Any:  # fmt: skip
    """Serve /metrics, over HTTPS when given `tls`, to requests `authorize` (the Authorization header → an
    HTTP status) lets through; returns the server (has `shutdown()` and `server_address`)."""
    if tls is None and authorize is None:
        server, _thread = prometheus_client.start_http_server(port, addr=host)
        return server
    httpd = _SecureMetricsServer((host, port), tls, authorize)
    threading.Thread(target=httpd.serve_forever, name="metrics", daemon=True).start()
    return httpd


class _SecureMetricsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], tls: ReloadingContext | None,
                 authorize: Callable[[str | None], int] | None) -> None:  # fmt: skip
        self.tls, self.authorize = tls, authorize
        super().__init__(address, _MetricsHandler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        sock.settimeout(10)
        if self.tls is not None:
            return self.tls.current().wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a scraper that went away or failed its handshake


class _MetricsHandler(BaseHTTPRequestHandler):
    server: _SecureMetricsServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/metrics":
            self._send(404, b"not found\n")
            return
        code = self.server.authorize(self.headers.get("Authorization")) if self.server.authorize else 200
        if code != 200:
            self._send(code, {401: b"Unauthorized\n", 403: b"Forbidden\n"}.get(code, b"Unavailable\n"))
            return
        self._send(200, prometheus_client.generate_latest(), prometheus_client.CONTENT_TYPE_LATEST)


def init_controller(name: str = CONTROLLER) -> None:
    """Create every label set of a controller's metrics, so they show (as 0) before the first event."""
    for result in ("success", "error", "requeue", "requeue_after"):
        RECONCILE_TOTAL.labels(name, result)
    RECONCILE_ERRORS.labels(name)
    TERMINAL_ERRORS.labels(name)
    RECONCILE_TIME.labels(name)
    ACTIVE_WORKERS.labels(name)


def condition_gauge(gauge: Gauge, namespace: str, name: str, status: dict[str, Any] | None, type_: str) -> None:
    """Set `gauge{namespace,name}` to 1 when condition `type_` of `status` is True, else 0."""
    conds: list[dict[str, Any]] = (status or {}).get("conditions") or []
    true = any(c.get("type") == type_ and c.get("status") == "True" for c in conds)
    gauge.labels(namespace, name).set(1 if true else 0)


def forget_object(gauge: Gauge, namespace: str, name: str) -> None:
    """Drop the series of an object that is gone."""
    with contextlib.suppress(KeyError):
        gauge.remove(namespace, name)
