"""A Prometheus-operator ServiceMonitor (`monitoring.coreos.com/v1`) scraping the server's Service; for a
bridged server, mcpop-bridge's own metrics port."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from mcpop.api.features import Monitoring
from mcpop.api.mcpserver import ServicePort
from mcpop.render.auth import bridge_cut
from mcpop.render.collisions import PORT_NAME
from mcpop.render.errors import RenderError
from mcpop.render.names import selector_labels
from mcpop.render.normalize import Workload
from mcpop.render.workload import meta, name_of

if TYPE_CHECKING:
    from mcpop.api.mcpserver import MCPServerSpec

#: the port (and its name) mcpop-bridge serves its metrics on with spec.monitoring (never the MCP port)
BRIDGE_METRICS_PORT = 9090
BRIDGE_METRICS_PORT_NAME = "metrics"


def with_bridge_metrics(spec: MCPServerSpec, work: Workload) -> tuple[MCPServerSpec, Workload]:
    """With spec.monitoring on a bridged server: mcpop-bridge's `--metrics-port 9090` and a `metrics` port on the
    container and the Service (the ServiceMonitor's default endpoint); unchanged otherwise."""
    if spec.monitoring is None or not spec.monitoring.enabled or not work.bridged:
        return spec, work
    for i, p in enumerate(spec.ports or []):
        if p.name == BRIDGE_METRICS_PORT_NAME or p.port == BRIDGE_METRICS_PORT:
            raise RenderError(f"spec.ports[{i}]", f"{p.name} {p.port}: with spec.monitoring, mcpop-bridge serves its "
                              f"metrics as port {BRIDGE_METRICS_PORT_NAME} {BRIDGE_METRICS_PORT}; use another name "
                              "and port")  # fmt: skip
    if work.port == BRIDGE_METRICS_PORT:
        raise RenderError("spec.port", f"{BRIDGE_METRICS_PORT} is mcpop-bridge's metrics port with spec.monitoring; "
                          "serve MCP on another port")  # fmt: skip
    cut = bridge_cut(work, "spec.monitoring", "the bridge's metrics")
    assert work.args is not None
    work = dataclasses.replace(work, args=[*work.args[:cut], "--metrics-port", str(BRIDGE_METRICS_PORT),
                                           *work.args[cut:]])  # fmt: skip
    port = ServicePort(name=BRIDGE_METRICS_PORT_NAME, port=BRIDGE_METRICS_PORT)
    return spec.model_copy(update={"ports": [*(spec.ports or []), port]}), work


def service_monitor(
    name: str,
    namespace: str,
    labels: dict[str, str],
    monitoring: Monitoring,
    service: dict[str, Any],
    bridged: bool = False,
) -> dict[str, Any]:
    """A ServiceMonitor selecting the server's Service by its selector labels, one endpoint.

    The endpoint port is `monitoring.port` (a port name of the Service), else mcpop-bridge's `metrics` for a
    bridged server, else `http`.
    """
    port = monitoring.port or (BRIDGE_METRICS_PORT_NAME if bridged else PORT_NAME)
    names = [p["name"] for p in service["spec"]["ports"]]
    if port not in names:
        raise RenderError("spec.monitoring.port", f"{port!r} is not a port of the Service (ports: {', '.join(names)})")
    endpoint = {"port": port, "path": monitoring.path, "interval": monitoring.interval,
                "scrapeTimeout": monitoring.scrape_timeout}  # fmt: skip
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": meta(name, namespace, {**(monitoring.labels or {}), **labels}),
        "spec": {
            "selector": {"matchLabels": selector_labels(name_of(labels))},
            "namespaceSelector": {"matchNames": [namespace]},
            "endpoints": [{k: v for k, v in endpoint.items() if v is not None}],
        },
    }
