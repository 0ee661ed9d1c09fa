"""Transports: what a client needs to connect (transport and path) is on the Service and in the status, for
every transport; bridge settings on a server that has no bridge are reported."""

from __future__ import annotations

from typing import Any

import pytest

from mcpop.api.mcpserver import MCPServer
from mcpop.apply.mcpserver.status import Outcome, compute_status, service_status, split_image
from mcpop.render import ObjectSet, render

ANNOTATIONS = ("mcp.allbeone.io/transport", "mcp.allbeone.io/path")


def server(spec: dict[str, Any], name: str = "demo") -> MCPServer:
    return MCPServer.model_validate(
        {"apiVersion": "mcp.allbeone.io/v1", "kind": "MCPServer", "metadata": {"name": name}, "spec": spec}
    )


def served(out: ObjectSet) -> tuple[str, str]:
    svc = out.get("Service")
    assert svc is not None
    annotations = svc["metadata"]["annotations"]
    return annotations[ANNOTATIONS[0]], annotations[ANNOTATIONS[1]]


def container(out: ObjectSet) -> dict[str, Any]:
    dep = out.get("Deployment")
    assert dep is not None
    return dep["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("transport", "expected"),
    [
        (None, ("streamable-http", "/mcp")),
        ({"type": "streamable-http"}, ("streamable-http", "/mcp")),
        ({"type": "http"}, ("streamable-http", "/mcp")),
        ({"type": "sse"}, ("sse", "/sse")),
        ({"type": "sse", "path": "/v1/events"}, ("sse", "/v1/events")),
        ({"type": "streamable-http", "path": "/api/mcp"}, ("streamable-http", "/api/mcp")),
        ({"path": "/custom"}, ("streamable-http", "/custom")),
    ],
)
def test_the_service_names_the_transport_and_path_clients_use(
    transport: dict[str, Any] | None, expected: tuple[str, str]
) -> None:
    spec: dict[str, Any] = {"image": "ghcr.io/a/b"}
    if transport is not None:
        spec["transport"] = transport
    assert served(render(server(spec))) == expected


def test_sse_and_streamable_http_differ_in_what_they_render() -> None:
    sse = render(server({"image": "ghcr.io/a/b", "transport": {"type": "sse"}}))
    http = render(server({"image": "ghcr.io/a/b", "transport": {"type": "streamable-http"}}))
    assert sse.objects != http.objects


def test_a_bridged_stdio_server_is_served_as_streamable_http_on_its_path() -> None:
    out = render(server({"image": "x", "command": ["srv"], "transport": {"type": "stdio", "path": "/rpc"}}))
    assert served(out) == ("streamable-http", "/rpc")
    args = container(out)["args"]
    assert args[args.index("--path") + 1] == "/rpc"


@pytest.mark.parametrize("transport", ["sse", "streamable-http"])
def test_an_unbridged_server_is_probed_on_tcp_because_an_mcp_endpoint_cannot_answer_a_kubelet_get(
    transport: str,
) -> None:
    # the kubelet reads a probe body until 10 KiB or the timeout: an SSE stream never ends, and a
    # streamable-HTTP endpoint may answer a bare GET with 405 (MCP spec), so httpGet would always fail
    c = container(render(server({"image": "a", "transport": {"type": transport, "path": "/x"}})))
    assert c["readinessProbe"]["tcpSocket"] == {"port": "http"}
    assert c["livenessProbe"]["tcpSocket"] == {"port": "http"}


@pytest.mark.parametrize("transport", ["sse", "streamable-http", "http"])
def test_gateway_settings_on_a_server_without_a_bridge_are_a_warning(transport: str) -> None:
    out = render(server({"image": "a", "transport": {"type": transport}, "gateway": {"image": "b", "port": 9}}))
    assert any("gateway.image, gateway.port ignored" in w and "only for stdio" in w for w in out.warnings), out.warnings


def test_gateway_settings_with_the_bridge_switched_off_are_a_warning() -> None:
    spec = {"image": "a", "transport": {"type": "stdio"}, "gateway": {"enabled": False, "image": "b"}}
    assert any("gateway.image ignored: gateway.enabled is false" in w for w in render(server(spec)).warnings)


def test_switching_the_gateway_off_on_a_non_stdio_server_is_no_warning() -> None:
    out = render(server({"image": "a", "transport": {"type": "sse"}, "gateway": {"enabled": False}}))
    assert not [w for w in out.warnings if "gateway" in w]


def test_status_carries_the_url_with_the_sse_path_and_the_transport() -> None:
    out = render(server({"image": "a", "port": 3001, "transport": {"type": "sse"}}, name="weather"))
    svc = out.get("Service")
    assert svc is not None
    endpoint, url, transport = service_status(svc, "tools")
    assert endpoint == "weather.tools.svc.cluster.local:3001"  # the contract's form, unchanged
    assert url == "http://weather.tools.svc.cluster.local:3001/sse"
    assert transport == "sse"
    status = compute_status(Outcome(generation=1, service_endpoint=endpoint, url=url, transport=transport), None)
    assert (status["url"], status["transport"]) == (url, "sse")


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("ghcr.io/a/b:1.0", ("ghcr.io/a/b", "1.0")),
        ("mcp-server-filesystem:latest", ("mcp-server-filesystem", "latest")),
        ("localhost:5000/a/b", ("localhost:5000/a/b", None)),
        ("localhost:5000/a/b:2", ("localhost:5000/a/b", "2")),
        ("a@sha256:" + "0" * 64, ("a", "sha256:" + "0" * 64)),
        ("a:1@sha256:" + "0" * 64, ("a", "1@sha256:" + "0" * 64)),
    ],
)
def test_split_image_gives_repository_and_tag(ref: str, expected: tuple[str, str | None]) -> None:
    assert split_image(ref) == expected


def test_status_image_and_tag_come_from_the_resolved_reference() -> None:
    status = compute_status(Outcome(generation=1, image="ghcr.io/example/time:1.2.0"), None)
    assert (status["image"], status["tag"]) == ("ghcr.io/example/time", "1.2.0")
    kept = compute_status(Outcome(generation=2), status)
    assert (kept["image"], kept["tag"]) == ("ghcr.io/example/time", "1.2.0")
