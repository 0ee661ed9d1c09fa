"""A Prometheus-operator ServiceMonitor (`monitoring.coreos.com/v1`) scraping the server's Service."""

from __future__ import annotations

from typing import Any

from mcpop.api.features import Monitoring
from mcpop.render.collisions import PORT_NAME
from mcpop.render.errors import RenderError
from mcpop.render.names import selector_labels
from mcpop.render.workload import meta, name_of


def service_monitor(
    name: str, namespace: str, labels: dict[str, str], monitoring: Monitoring, service: dict[str, Any]
) -> dict[str, Any]:
    """A ServiceMonitor selecting the server's Service by its selector labels, one endpoint.

    The endpoint port is `monitoring.port` (a port name of the Service) or `http`.
    """
    port = monitoring.port or PORT_NAME
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
