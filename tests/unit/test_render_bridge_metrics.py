"""spec.monitoring on a bridged server (issue 21 §3): mcpop-bridge serves its metrics on a port of their own,
`bridge-metrics` 9090 (the next free port when the server uses 9090), on the container and the Service, and the
ServiceMonitor scrapes it; an HTTP server keeps its own `http` endpoint; a user port of that name is refused."""

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
    assert {"name": "bridge-metrics", "containerPort": 9090, "protocol": "TCP"} in container["ports"]
    assert any(p["name"] == "bridge-metrics" and p["port"] == 9090 for p in out.get("Service")["spec"]["ports"])
    assert out.get("ServiceMonitor")["spec"]["endpoints"] == [{"port": "bridge-metrics", "path": "/metrics"}]


def test_without_monitoring_the_bridge_serves_no_metrics() -> None:
    out = render(server(monitoring=None))
    assert "--metrics-port" not in out.get("Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert all(p["name"] != "bridge-metrics" for p in out.get("Service")["spec"]["ports"])


def test_an_http_server_keeps_its_own_metrics_endpoint() -> None:
    srv = MCPServer.model_validate({"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer",
                                    "metadata": {"name": "web", "namespace": "tools"},
                                    "spec": {"image": "ghcr.io/example/web", "tag": "1",
                                             "monitoring": {"enabled": True}}})  # fmt: skip
    assert render(srv).get("ServiceMonitor")["spec"]["endpoints"] == [{"port": "http", "path": "/metrics"}]


def test_a_server_using_port_9090_gets_the_bridges_metrics_on_the_next_free_port() -> None:
    for spec in (
        {"ports": [{"name": "admin", "port": 9090}, {"name": "metrics", "port": 9091}]},
        {"gateway": {"port": 9090}},
    ):
        out = render(server(**spec))
        args = out.get("Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
        want = "9092" if "ports" in spec else "9091"
        assert args[args.index("--metrics-port") + 1] == want
        assert any(
            p["name"] == "bridge-metrics" and p["port"] == int(want) for p in out.get("Service")["spec"]["ports"]
        )


def test_a_user_port_named_like_the_bridges_metrics_port_is_refused() -> None:
    with pytest.raises(RenderError) as exc:
        render(server(ports=[{"name": "bridge-metrics", "port": 9100}]))
    assert exc.value.field == "spec.ports[0].name" and "bridge-metrics" in exc.value.message


def test_an_explicit_monitoring_port_wins() -> None:
    out = render(server(monitoring={"enabled": True, "port": "http"}))
    assert out.get("ServiceMonitor")["spec"]["endpoints"][0]["port"] == "http"
