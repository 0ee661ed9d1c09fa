"""spec.monitoring on a bridged server (issue 21 §3): mcpop-bridge serves its metrics on a port of their own,
`metrics` 9090, on the container and the Service, and the ServiceMonitor scrapes it; an HTTP server keeps its own
`http` endpoint; a clash with the user's ports is refused naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from mcpop.api.mcpserver import MCPServer
from mcpop.render import RenderError, render


def server(**spec: Any) -> MCPServer:
    base = {"command": ["npx", "srv"], "transport": {"type": "stdio"}, "monitoring": {"enabled": True}, **spec}
    return MCPServer.model_validate({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
                                     "metadata": {"name": "files", "namespace": "tools"}, "spec": base})  # fmt: skip


def test_a_bridged_server_with_monitoring_serves_the_bridges_metrics_on_their_own_port() -> None:
    out = render(server())
    container = out.get("Deployment")["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    assert args[args.index("--metrics-port") + 1] == "9090" and args.index("--metrics-port") < args.index("--")
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in container["ports"]
    assert any(p["name"] == "metrics" and p["port"] == 9090 for p in out.get("Service")["spec"]["ports"])
    assert out.get("ServiceMonitor")["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics"}]


def test_without_monitoring_the_bridge_serves_no_metrics() -> None:
    out = render(server(monitoring=None))
    assert "--metrics-port" not in out.get("Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert all(p["name"] != "metrics" for p in out.get("Service")["spec"]["ports"])


def test_an_http_server_keeps_its_own_metrics_endpoint() -> None:
    srv = MCPServer.model_validate({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
                                    "metadata": {"name": "web", "namespace": "tools"},
                                    "spec": {"image": "ghcr.io/example/web", "tag": "1",
                                             "monitoring": {"enabled": True}}})  # fmt: skip
    assert render(srv).get("ServiceMonitor")["spec"]["endpoints"] == [{"port": "http", "path": "/metrics"}]


def test_a_user_port_that_clashes_with_the_bridges_metrics_port_is_refused() -> None:
    for port in ({"name": "metrics", "port": 9100}, {"name": "admin", "port": 9090}):
        with pytest.raises(RenderError) as exc:
            render(server(ports=[port]))
        assert exc.value.field == "spec.ports[0]" and "9090" in exc.value.message


def test_an_explicit_monitoring_port_wins() -> None:
    out = render(server(monitoring={"enabled": True, "port": "http"}))
    assert out.get("ServiceMonitor")["spec"]["endpoints"][0]["port"] == "http"
