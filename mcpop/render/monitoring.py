"""A Prometheus-operator ServiceMonitor (`monitoring.coreos.com/v1`) scraping the server's Service; for a
bridged server, mcpop-bridge's own metrics port."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcpop.api.features import Monitoring
from mcpop.api.mcpserver import ServicePort
from mcpop.render.auth import bridge_flags_of, with_bridge_flags
from mcpop.render.collisions import BRIDGE_METRICS_PORT_NAME, PORT_NAME
from mcpop.render.errors import RenderError
from mcpop.render.names import selector_labels
from mcpop.render.normalize import Workload
from mcpop.render.workload import meta, name_of

if TYPE_CHECKING:
    from mcpop.api.mcpserver import MCPServerSpec

#: the port mcpop-bridge serves its metrics on with spec.monitoring (the next free one when the server uses it)
BRIDGE_METRICS_PORT = 9090


def with_bridge_metrics(spec: MCPServerSpec, work: Workload) -> tuple[MCPServerSpec, Workload]:
    """With spec.monitoring on a bridged server: mcpop-bridge's `--metrics-port` (9090, or the next port the
    server does not use) and a `bridge-metrics` port on the container and the Service (the ServiceMonitor's
    default endpoint); unchanged otherwise."""
    if spec.monitoring is None or not spec.monitoring.enabled or not (work.bridged or work.proxy_args is not None):
        return spec, work
    used = {work.port, *([work.proxy_port] if work.proxy_port else [])}
    for i, p in enumerate(spec.ports or []):
        if p.name == BRIDGE_METRICS_PORT_NAME:
            raise RenderError(f"spec.ports[{i}].name", f"{p.name!r} is mcpop-bridge's metrics port with "
                              "spec.monitoring; name this port otherwise")  # fmt: skip
        used |= {p.port, *([p.target_port] if isinstance(p.target_port, int) else [])}
    port = next(n for n in range(BRIDGE_METRICS_PORT, 65536) if n not in used)
    own = bridge_flags_of(work, "spec.monitoring", "the bridge's metrics")
    work = with_bridge_flags(work, [*own, "--metrics-port", str(port)])
    extra = ServicePort(name=BRIDGE_METRICS_PORT_NAME, port=port)
    return spec.model_copy(update={"ports": [*(spec.ports or []), extra]}), work


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
